"""Faults a test injects into the emulator, and the log of what it received."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Fault", "FaultBook", "RequestLog", "RequestRecord"]

# No fault may hold a server thread longer than this, so the emulator always stops.
MAX_DELAY = 120.0

Disconnect = Literal["before_response", "mid_body"]


@dataclass
class Fault:
    """What to do to the requests that match, instead of (or before) answering normally.

    Matching: ``method`` (exact, if set) and ``path`` (a regex searched in the path
    below ``/client/v4``, if set). The first ``skip`` matching requests pass untouched;
    the next ``times`` get the fault (``times=-1``: all of them).

    Effects, in order: wait ``delay`` seconds; then ``disconnect`` (close without an
    answer, or after half the body); else answer ``status`` with ``headers`` and
    ``body`` (a JSON value, or a string sent as it is; ``None`` gives Cloudflare's
    error envelope with ``code`` and ``message``); a ``status`` of ``None`` lets the
    request through to its normal handler after the delay.
    """

    method: str | None = None
    path: str | None = None
    status: int | None = 500
    code: int = 1000
    message: str = "Injected fault"
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    disconnect: Disconnect | None = None
    times: int = 1
    skip: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.delay <= MAX_DELAY:
            raise ValueError(f"Expected 0 <= delay <= {MAX_DELAY} but received {self.delay!r}")
        if self.path is not None:
            re.compile(self.path)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Fault:
        """A fault from the control surface's JSON."""
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"Unknown fault fields: {sorted(unknown)}; expected {sorted(known)}")
        return cls(**raw)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or re.search(self.path, path) is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultBook:
    """The active faults; ``take`` consumes one use of the first that applies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                return fault
            return None


@dataclass(frozen=True)
class RequestRecord:
    """One request as received. ``auth`` names the scheme used, never the secret."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    auth: str | None
    status: int | None
    at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """Every request the emulator received, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def all(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def matching(self, method: str | None = None, path: str | None = None) -> list[RequestRecord]:
        """Records whose method equals ``method`` and whose path matches the regex ``path``."""
        return [
            r
            for r in self.all()
            if (method is None or r.method == method)
            and (path is None or re.search(path, r.path) is not None)
        ]


def sleep_bounded(seconds: float) -> None:
    """Sleep, never longer than ``MAX_DELAY``."""
    time.sleep(min(max(seconds, 0.0), MAX_DELAY))
