"""The resource's inputs: validated with precise messages, and normalized.

Normalizing makes equal declarations compare equal: IDs are stripped, UUIDs lower-cased
(they are case-insensitive) and duplicates dropped, keeping the first. IDs keep the order
of the previous inputs, and new ones are appended in declared order, so that adding IDs
anywhere in a long list shows in a preview as ``+`` lines only (Pulumi compares lists
position by position); re-ordering is no change, because the provider's diff compares
sets. Values still unknown during a preview pass through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN

from .client import DEFAULT_ENDPOINT, ENDPOINTS, MAX_REGISTRATION_ID_LENGTH

__all__ = [
    "ACCOUNT_ID",
    "ALLOW_MISSING_IDS",
    "ENDPOINT",
    "REGISTRATION_IDS",
    "RESOURCE_NAME",
    "Failure",
    "has_unknown",
    "is_unknown",
    "keep_previous_order",
    "normalize",
]

ACCOUNT_ID = "account_id"
REGISTRATION_IDS = "registration_ids"
ENDPOINT = "endpoint"
ALLOW_MISSING_IDS = "allow_missing_ids"
# The resource's Pulumi name, so that the provider's messages say which resource they are
# about (the dynamic-provider API does not pass the URN to the provider's methods).
RESOURCE_NAME = "resource_name"

_ACCOUNT_ID = re.compile(r"^[0-9a-fA-F]{32}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ID_CHARS = re.compile(r"^[A-Za-z0-9-]+$")
# Lower-case UUIDs, one per line: IDs that normalizing leaves as they are (the common case,
# checked for a whole list at once).
_LOWER_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_LOWER_UUID_LINES = re.compile(rf"{_LOWER_UUID}(?:\n{_LOWER_UUID})*")


@dataclass(frozen=True)
class Failure:
    """One problem with one input property."""

    property: str
    reason: str


def is_unknown(value: object) -> bool:
    """Whether ``value`` is not known yet (a preview of an Output from another resource).

    The dynamic-provider server hands unknowns to check and diff as ``Unknown`` objects;
    the wire form is the ``UNKNOWN`` sentinel string.
    """
    return isinstance(value, Unknown) or (isinstance(value, str) and value == UNKNOWN)


def has_unknown(values: Sequence[object]) -> bool:
    """Whether any of ``values`` is unknown; a list of plain strings is checked in one pass."""
    if set(map(type, values)) <= {str}:
        return UNKNOWN in values
    return any(is_unknown(v) for v in values)


def _describe(value: object) -> str:
    """A short rendering of a value; whole numbers as Pulumi's numbers arrive (floats) print."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: object) -> str:
    """The value's type in Pulumi's terms: what the program passed, not Python's wire type."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def _account_id(value: object) -> tuple[object, list[Failure]]:
    if is_unknown(value):
        return value, []
    if value is None or (isinstance(value, str) and not value.strip()):
        return value, [
            Failure(
                ACCOUNT_ID,
                "account_id is required: the 32-character hexadecimal ID of the Cloudflare "
                "account (dashboard: Account home, Account ID).",
            )
        ]
    if not isinstance(value, str):
        return value, [
            Failure(
                ACCOUNT_ID,
                f"account_id must be a string, got {_kind(value)} {_describe(value)}.",
            )
        ]
    stripped = value.strip()
    if not _ACCOUNT_ID.match(stripped):
        return value, [
            Failure(
                ACCOUNT_ID,
                f"account_id must be 32 hexadecimal characters, got {_describe(value)} "
                f"({len(stripped)} characters).",
            )
        ]
    return stripped.lower(), []


def _registration_id(index: int, value: object) -> tuple[str | None, list[Failure]]:
    where = f"registration_ids[{index}]"
    if not isinstance(value, str):
        return None, [
            Failure(
                REGISTRATION_IDS,
                f"{where} must be a string, got {_kind(value)} {_describe(value)}.",
            )
        ]
    stripped = value.strip()
    if not stripped:
        return None, [Failure(REGISTRATION_IDS, f"{where} is empty.")]
    if len(stripped) > MAX_REGISTRATION_ID_LENGTH:
        return None, [
            Failure(
                REGISTRATION_IDS,
                f"{where} {_describe(stripped)} is {len(stripped)} characters long; Cloudflare "
                f"registration IDs are at most {MAX_REGISTRATION_ID_LENGTH}.",
            )
        ]
    if not _ID_CHARS.match(stripped):
        return None, [
            Failure(
                REGISTRATION_IDS,
                f"{where} {_describe(stripped)} may contain only letters, digits and '-' "
                "(a registration ID looks like f174e90a-fafe-4643-bbbc-4a0ed4fc8415).",
            )
        ]
    return (stripped.lower() if _UUID.match(stripped) else stripped), []


def _registration_ids(value: object) -> tuple[object, list[Failure]]:
    if is_unknown(value):
        return value, []
    if value is None:
        return value, [
            Failure(
                REGISTRATION_IDS,
                "registration_ids is required: a list of registration IDs to revoke.",
            )
        ]
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        return value, [
            Failure(
                REGISTRATION_IDS,
                "registration_ids must be a list of strings, got "
                f"{_kind(value)} {_describe(value)}.",
            )
        ]
    if _already_normal(value):
        return list(dict.fromkeys(value)), []
    seen: set[str] = set()
    ordered: list[object] = []
    failures: list[Failure] = []
    for index, item in enumerate(value):
        if is_unknown(item):
            ordered.append(item)
            continue
        normalized, problems = _registration_id(index, item)
        failures += problems
        if normalized is not None and normalized not in seen:
            seen.add(normalized)
            ordered.append(normalized)
    return ordered, failures


def _already_normal(values: list[Any] | tuple[Any, ...]) -> bool:
    """Whether every value is a known, lower-case UUID: valid, and normalized as it is."""
    if not values or set(map(type, values)) != {str} or UNKNOWN in values:
        return False
    lines = "\n".join(values)
    # The length rules out a value holding a line break (two UUIDs in one value).
    return len(lines) == len(values) * 37 - 1 and _LOWER_UUID_LINES.fullmatch(lines) is not None


def _endpoint(value: object) -> tuple[object, list[Failure]]:
    if value is None:
        return DEFAULT_ENDPOINT, []
    if is_unknown(value) or value in ENDPOINTS:
        return value, []
    return value, [
        Failure(
            ENDPOINT,
            f"endpoint must be one of {', '.join(map(repr, ENDPOINTS))}, got {_describe(value)}.",
        )
    ]


def _allow_missing_ids(value: object) -> tuple[object, list[Failure]]:
    if value is None:
        return False, []
    if is_unknown(value) or isinstance(value, bool):
        return value, []
    return value, [
        Failure(
            ALLOW_MISSING_IDS,
            f"allow_missing_ids must be true or false, got {_kind(value)} {_describe(value)}.",
        )
    ]


def keep_previous_order(ids: object, previous: object) -> object:
    """``ids`` with the IDs also in ``previous`` first, in its order; new ones after."""
    if not isinstance(ids, list) or not isinstance(previous, list):
        return ids
    if has_unknown(ids):
        return ids
    wanted = set(ids)
    kept = [i for i in previous if isinstance(i, str) and i in wanted]
    old = set(kept)
    return kept + [i for i in ids if i not in old]


def normalize(
    news: Mapping[str, Any], olds: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], list[Failure]]:
    """The normalized inputs and every problem found (empty when valid).

    ``olds``, the previous inputs, gives the order of the IDs they already had.
    """
    account_id, account_failures = _account_id(news.get(ACCOUNT_ID))
    ids, id_failures = _registration_ids(news.get(REGISTRATION_IDS))
    endpoint, endpoint_failures = _endpoint(news.get(ENDPOINT))
    allow_missing, allow_failures = _allow_missing_ids(news.get(ALLOW_MISSING_IDS))
    inputs = {
        ACCOUNT_ID: account_id,
        REGISTRATION_IDS: keep_previous_order(ids, (olds or {}).get(REGISTRATION_IDS)),
        ENDPOINT: endpoint,
        ALLOW_MISSING_IDS: allow_missing,
    }
    name = news.get(RESOURCE_NAME)
    if isinstance(name, str):
        inputs[RESOURCE_NAME] = name
    failures = account_failures + id_failures + endpoint_failures + allow_failures
    return inputs, failures
