"""Switches for what Cloudflare does but documents nowhere: one field per assumption."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin, get_type_hints

__all__ = ["HELP", "MAX_REQUEST_LINE", "Assumptions"]

# The longest request line the server reads at all (the stdlib stops at 64 KiB); a
# `max_uri_length` above it could never be reached.
MAX_REQUEST_LINE = 1 << 20

UnknownIds = Literal["ignore", "refuse"]
TotalCount = Literal["number", "null"]
MissingUser = Literal["absent", "null"]
PerPageOverMax = Literal["refuse", "clamp"]


@dataclass(frozen=True)
class Assumptions:
    """How the emulator behaves where no Cloudflare source says (``HELP`` explains each
    field); the defaults are its behaviour before these switches existed."""

    unknown_ids: UnknownIds = "ignore"
    status_all_includes_deleted: bool = False
    total_count: TotalCount = "number"
    missing_user: MissingUser = "absent"
    max_per_page: int = 1000
    per_page_over_max: PerPageOverMax = "refuse"
    default_per_page: int = 10
    registrations_max_ids: int | None = 200
    max_uri_length: int | None = 32 * 1024
    revocation_listed_after: int = 0

    def __post_init__(self) -> None:
        hints = get_type_hints(type(self))
        for f in dataclasses.fields(self):
            _check(f.name, hints[f.name], getattr(self, f.name))
        if self.max_uri_length is not None and self.max_uri_length > MAX_REQUEST_LINE:
            raise ValueError(
                f"Expected max_uri_length <= {MAX_REQUEST_LINE} but received "
                f"{self.max_uri_length!r}"
            )

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, fields: Mapping[str, Any]) -> Assumptions:
        """A copy with ``fields`` changed; unknown names and bad values raise ValueError."""
        unknown = set(fields) - set(self.field_names())
        if unknown:
            raise ValueError(
                f"Unknown assumptions: {sorted(unknown)}; expected {self.field_names()}"
            )
        return dataclasses.replace(self, **fields)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


HELP: dict[str, str] = {
    "unknown_ids": "unknown or deleted registration IDs in a revoke or unrevoke (either "
    "endpoint): 'ignore' skips them and succeeds; 'refuse' answers 400 naming them and "
    "changes nothing",
    "status_all_includes_deleted": "status=all also lists deleted registrations (deleted_at "
    "set), and GET returns them",
    "total_count": "result_info.total_count: 'number' (the match count) or 'null'",
    "missing_user": "a registration without a user (service-token enrollment): 'absent' "
    "omits the user key, 'null' writes \"user\": null",
    "max_per_page": "the largest per_page the list operation honours",
    "per_page_over_max": "per_page above max_per_page: 'refuse' (400) or 'clamp' (answer "
    "max_per_page; result_info.per_page says so)",
    "default_per_page": "per_page when the request gives none",
    "registrations_max_ids": "most IDs in one registrations revoke or unrevoke (None: no limit)",
    "max_uri_length": "request targets (path and query) longer than this many bytes get 414 "
    "(None: no limit)",
    "revocation_listed_after": "how many list answers after a revoke still show the "
    "registration as not revoked (revoked_at null): 0 is at once",
}


# Integer fields for which 0 makes sense (the others are sizes and limits: at least 1).
_MAY_BE_ZERO = frozenset({"revocation_listed_after"})


def _check(name: str, hint: Any, value: object) -> None:
    """Raise ValueError unless ``value`` fits the field's type (values also come from JSON)."""
    allowed = get_args(hint)
    if get_origin(hint) is Literal:
        if value not in allowed:
            raise ValueError(f"Expected {name} to be one of {list(allowed)} but received {value!r}")
        return
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"Expected {name} to be true or false but received {value!r}")
        return
    if value is None and type(None) in allowed:
        return
    least = 0 if name in _MAY_BE_ZERO else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        kind = "a whole number >= 0" if least == 0 else "a positive integer"
        raise ValueError(f"Expected {name} to be {kind} but received {value!r}")
