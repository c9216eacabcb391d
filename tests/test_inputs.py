"""Input validation and normalization: precise failures, stable normalized values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN

from cloudflare_device_revocation.inputs import normalize

ACCOUNT = "699d98642c564d2e855e9661899b7252"
UUID_A = "f174e90a-fafe-4643-bbbc-4a0ed4fc8415"
UUID_B = "11ffb86f-3f0c-4306-b4a2-e62f872b166a"


def test_normalizes_whitespace_case_and_duplicates_keeping_order() -> None:
    """Stripped, UUIDs lower-cased, first occurrence kept in declared order; account
    lower-cased; default endpoint and allow_missing_ids."""
    inputs, failures = normalize(
        {
            "account_id": f" {ACCOUNT.upper()} ",
            "registration_ids": [UUID_B, f"  {UUID_A.upper()}", UUID_A, UUID_B],
        }
    )
    assert failures == []
    assert inputs == {
        "account_id": ACCOUNT,
        "registration_ids": [UUID_B, UUID_A],
        "endpoint": "registrations",
        "allow_missing_ids": False,
    }


def test_an_empty_list_is_valid() -> None:
    """Zero IDs is a valid declaration (an Output that resolves to no IDs, say)."""
    inputs, failures = normalize({"account_id": ACCOUNT, "registration_ids": []})
    assert failures == [] and inputs["registration_ids"] == []


def test_non_uuid_ids_keep_their_case() -> None:
    """Only UUIDs are case-insensitive; other IDs are kept as written."""
    inputs, failures = normalize({"account_id": ACCOUNT, "registration_ids": ["AbC-1"]})
    assert failures == [] and inputs["registration_ids"] == ["AbC-1"]


@pytest.mark.parametrize(
    ("news", "property_", "reason"),
    [
        ({"registration_ids": [UUID_A]}, "account_id", "account_id is required"),
        ({"account_id": "", "registration_ids": [UUID_A]}, "account_id", "account_id is required"),
        (
            {"account_id": "xyz", "registration_ids": [UUID_A]},
            "account_id",
            "account_id must be 32 hexadecimal characters, got 'xyz' (3 characters).",
        ),
        (
            {"account_id": "g" * 32, "registration_ids": [UUID_A]},
            "account_id",
            "must be 32 hexadecimal characters",
        ),
        (
            {"account_id": 42, "registration_ids": [UUID_A]},
            "account_id",
            "account_id must be a string, got number 42.",
        ),
        ({"account_id": ACCOUNT}, "registration_ids", "registration_ids is required"),
        (
            {"account_id": ACCOUNT, "registration_ids": [UUID_A], "allow_missing_ids": "yes"},
            "allow_missing_ids",
            "allow_missing_ids must be true or false, got string 'yes'.",
        ),
        (
            {"account_id": ACCOUNT, "registration_ids": UUID_A},
            "registration_ids",
            "registration_ids must be a list of strings, got string",
        ),
        (
            {"account_id": ACCOUNT, "registration_ids": {"a": 1}},
            "registration_ids",
            "must be a list of strings, got object",
        ),
        (
            {"account_id": ACCOUNT, "registration_ids": [UUID_A, 7]},
            "registration_ids",
            "registration_ids[1] must be a string, got number 7.",
        ),
        (
            {"account_id": ACCOUNT, "registration_ids": ["  "]},
            "registration_ids",
            "registration_ids[0] is empty.",
        ),
        (
            {"account_id": ACCOUNT, "registration_ids": [UUID_A + "0"]},
            "registration_ids",
            "is 37 characters long; Cloudflare registration IDs are at most 36.",
        ),
        (
            {"account_id": ACCOUNT, "registration_ids": ["bob@example.com"]},
            "registration_ids",
            "may contain only letters, digits and '-'",
        ),
        (
            {"account_id": ACCOUNT, "registration_ids": [UUID_A], "endpoint": "v2"},
            "endpoint",
            "endpoint must be one of 'devices', 'registrations', got 'v2'.",
        ),
    ],
)
def test_failures_are_precise(news: dict[str, Any], property_: str, reason: str) -> None:
    """Each malformed input gets one failure on the right property with a precise reason."""
    _inputs, failures = normalize(news)
    assert len(failures) == 1, failures
    assert failures[0].property == property_
    assert reason in failures[0].reason


def test_every_problem_is_reported_at_once() -> None:
    """Several bad inputs yield one failure each, not just the first."""
    _inputs, failures = normalize(
        {"account_id": "nope", "registration_ids": ["", 3], "endpoint": "x"}
    )
    assert [f.property for f in failures] == [
        "account_id",
        "registration_ids",
        "registration_ids",
        "endpoint",
    ]


def test_unknown_values_pass_through() -> None:
    """During preview, unknown values (whole or per element) are not failures."""
    unknowns = {
        "account_id": UNKNOWN,
        "registration_ids": UNKNOWN,
        "endpoint": UNKNOWN,
        "allow_missing_ids": UNKNOWN,
    }
    inputs, failures = normalize(unknowns)
    assert failures == []
    assert inputs == unknowns
    inputs, failures = normalize(
        {"account_id": ACCOUNT, "registration_ids": [UUID_B, UNKNOWN, UUID_A]}
    )
    assert failures == []
    assert inputs["registration_ids"] == [UUID_B, UNKNOWN, UUID_A]


def test_unknown_objects_from_the_provider_server_pass_through() -> None:
    """pulumi.dynamic hands check an ``Unknown`` object, not the wire string: not a failure."""
    unknown = Unknown()  # type: ignore[no-untyped-call]
    inputs, failures = normalize(
        {"account_id": unknown, "registration_ids": [UUID_A, unknown], "endpoint": unknown}
    )
    assert failures == []
    assert inputs["registration_ids"] == [UUID_A, unknown]
    _inputs, failures = normalize({"account_id": ACCOUNT, "registration_ids": unknown})
    assert failures == []


uuids = st.uuids().map(str)
id_lists = st.lists(
    st.one_of(uuids, uuids.map(str.upper), uuids.map(lambda u: f" {u}\t")), min_size=1
)


@given(id_lists)
def test_normalization_is_idempotent_and_keeps_the_set(ids: list[str]) -> None:
    """normalize(normalize(x)) == normalize(x); the result is the distinct canonical IDs in
    first-seen order, and a shuffled input yields the same set."""
    first, failures = normalize({"account_id": ACCOUNT, "registration_ids": ids})
    assert failures == []
    second, _ = normalize(first)
    assert second == first
    assert first["registration_ids"] == list(dict.fromkeys(i.strip().lower() for i in ids))
    reversed_, _ = normalize({"account_id": ACCOUNT, "registration_ids": ids[::-1]})
    assert set(reversed_["registration_ids"]) == set(first["registration_ids"])
