"""Each switch for what Cloudflare leaves undocumented, both ways, over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Assumptions, Emulator
from cloudflare_device_revocation.emulator.assumptions import HELP, MAX_REQUEST_LINE
from support import ACCOUNT
from test_emulator import AUTH, call, codes

REGISTRATIONS = f"/accounts/{ACCOUNT}/devices/registrations"
GHOST = "00000000-0000-4000-8000-000000000000"


def ask(emulator: Emulator, verb: str, endpoint: str, ids: list[str]) -> tuple[int, Any]:
    """Revoke or unrevoke ``ids`` through the deprecated or the registrations endpoint."""
    if endpoint == "devices":
        return call(emulator, "POST", f"/accounts/{ACCOUNT}/devices/{verb}", json=ids)
    return call(emulator, "POST", f"{REGISTRATIONS}/{verb}", params=[("id", i) for i in ids])


def listed(emulator: Emulator, **params: Any) -> dict[str, Any]:
    status, body = call(emulator, "GET", REGISTRATIONS, params=params)
    assert status == 200, body
    return body


# -- unknown_ids ---------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["devices", "registrations"])
@pytest.mark.parametrize("unknown_ids", ["ignore", "refuse"])
def test_unknown_ids_in_a_revoke(emulator: Emulator, endpoint: str, unknown_ids: str) -> None:
    """Unknown and deleted IDs are skipped, or refuse the whole revoke naming them."""
    emulator.assume(unknown_ids=unknown_ids)
    ids = emulator.state.seed(ACCOUNT, 3)
    emulator.state.delete_registration(ACCOUNT, ids[2])

    status, body = ask(emulator, "revoke", endpoint, [ids[0], GHOST, ids[2]])

    if unknown_ids == "ignore":
        assert (status, body["success"]) == (200, True)
        assert emulator.state.revoked_ids(ACCOUNT) == {ids[0]}
    else:
        assert (status, codes(body)) == (400, [1001])
        message = body["errors"][0]["message"]
        assert GHOST in message and ids[2] in message and ids[0] not in message
        assert emulator.state.revoked_ids(ACCOUNT) == set()
    assert ask(emulator, "revoke", endpoint, ids[:2])[0] == 200  # known IDs only: accepted
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids[:2])


@pytest.mark.parametrize("endpoint", ["devices", "registrations"])
@pytest.mark.parametrize("unknown_ids", ["ignore", "refuse"])
def test_unknown_ids_in_an_unrevoke(emulator: Emulator, endpoint: str, unknown_ids: str) -> None:
    """An unrevoke follows the same switch: skip unknown IDs, or change nothing."""
    emulator.assume(unknown_ids=unknown_ids)
    ids = emulator.state.seed(ACCOUNT, 2)
    emulator.state.set_revoked(ACCOUNT, ids, True)

    status, body = ask(emulator, "unrevoke", endpoint, [ids[0], GHOST])

    if unknown_ids == "ignore":
        assert status == 200
        assert emulator.state.revoked_ids(ACCOUNT) == {ids[1]}
    else:
        assert (status, codes(body)) == (400, [1001]) and GHOST in body["errors"][0]["message"]
        assert emulator.state.revoked_ids(ACCOUNT) == set(ids)


# -- status_all_includes_deleted -------------------------------------------------------


@pytest.mark.parametrize("includes_deleted", [False, True])
def test_deleted_registrations_and_status_all(emulator: Emulator, includes_deleted: bool) -> None:
    """Deleted registrations stay hidden, or status=all and GET show them with deleted_at."""
    emulator.assume(status_all_includes_deleted=includes_deleted)
    ids = emulator.state.seed(ACCOUNT, 2)
    emulator.state.set_revoked(ACCOUNT, [ids[1]], True)
    emulator.state.delete_registration(ACCOUNT, ids[1])

    everything = listed(emulator, status="all")["result"]
    status, one = call(emulator, "GET", f"{REGISTRATIONS}/{ids[1]}")

    if includes_deleted:
        assert [r["id"] for r in everything] == sorted(ids)
        [deleted] = [r for r in everything if r["id"] == ids[1]]
        assert deleted["deleted_at"] and deleted["revoked_at"]
        assert status == 200 and one["result"]["deleted_at"]
    else:
        assert [r["id"] for r in everything] == [ids[0]]
        assert (status, codes(one)) == (404, [1002])
    assert [r["id"] for r in listed(emulator)["result"]] == [ids[0]]  # active: never deleted
    assert listed(emulator, status="revoked")["result"] == []


# -- total_count -----------------------------------------------------------------------


@pytest.mark.parametrize(("total_count", "expected"), [("number", 3), ("null", None)])
def test_total_count(emulator: Emulator, total_count: str, expected: int | None) -> None:
    """result_info.total_count is the number of matches, or null as the schema's example."""
    emulator.assume(total_count=total_count)
    emulator.state.seed(ACCOUNT, 3)
    info = listed(emulator, per_page="2")["result_info"]
    assert info["total_count"] == expected
    assert (info["count"], info["per_page"]) == (2, 2) and info["cursor"]


# -- missing_user ------------------------------------------------------------------------


@pytest.mark.parametrize("missing_user", ["absent", "null"])
def test_registrations_without_a_user(emulator: Emulator, missing_user: str) -> None:
    """A service-token registration has no user key, or "user": null; filters and sorts work."""
    emulator.assume(missing_user=missing_user)
    person = emulator.state.add_registration(ACCOUNT, user_email="zed@example.com")
    robot = emulator.state.add_registration(ACCOUNT, userless=True, device_name="ci-runner")

    by_id = {r["id"]: r for r in listed(emulator)["result"]}
    _, one = call(emulator, "GET", f"{REGISTRATIONS}/{robot.id}")

    for shown in (by_id[robot.id], one["result"]):
        if missing_user == "absent":
            assert "user" not in shown
        else:
            assert shown["user"] is None
    assert by_id[person.id]["user"]["email"] == "zed@example.com"
    for sort_by in ("user.name", "user.email"):
        for order in ("asc", "desc"):
            result = listed(emulator, sort_by=sort_by, sort_order=order)["result"]
            expected = [robot.id, person.id] if order == "asc" else [person.id, robot.id]
            assert [r["id"] for r in result] == expected
    assert [r["id"] for r in listed(emulator, search="CI-RUN")["result"]] == [robot.id]
    assert [r["id"] for r in listed(emulator, search="zed@")["result"]] == [person.id]
    assert person.user is not None
    assert [r["id"] for r in listed(emulator, **{"user.id": person.user.id})["result"]] == [
        person.id
    ]


def test_userless_registrations_can_be_seeded_over_the_control_surface(
    emulator: Emulator,
) -> None:
    """``POST /__emulator/seed`` with ``userless`` enrolls registrations without a user."""
    control = f"http://127.0.0.1:{emulator.port}/__emulator"
    ids = requests.post(
        f"{control}/seed", json={"account_id": ACCOUNT, "count": 2, "userless": True}, timeout=5
    ).json()
    assert all(emulator.state.accounts[ACCOUNT].registrations[i].user is None for i in ids)
    assert all("user" not in r for r in listed(emulator)["result"])


def test_a_userless_registration_takes_no_user_fields(emulator: Emulator) -> None:
    """Asking for a user-less registration with a user email is a mistake, said at once."""
    with pytest.raises(ValueError, match="userless"):
        emulator.state.add_registration(ACCOUNT, userless=True, user_email="a@example.com")


# -- per_page ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "per_page", "status", "page_size"),
    [
        ({}, "1000", 200, 1000),
        ({}, "1001", 400, None),
        ({"max_per_page": 5}, "6", 400, None),
        ({"max_per_page": 5, "per_page_over_max": "clamp"}, "6", 200, 5),
        ({"max_per_page": 5, "per_page_over_max": "clamp"}, "5000", 200, 5),
        ({"max_per_page": 5, "per_page_over_max": "clamp"}, "4", 200, 4),
        ({"per_page_over_max": "clamp"}, "0", 400, None),
        ({"per_page_over_max": "clamp"}, "x", 400, None),
    ],
)
def test_per_page_above_the_maximum(
    emulator: Emulator, fields: dict[str, Any], per_page: str, status: int, page_size: int | None
) -> None:
    """per_page above the maximum is refused, or clamped with result_info saying so."""
    emulator.assume(**fields)
    emulator.state.seed(ACCOUNT, 12)
    got_status, body = call(emulator, "GET", REGISTRATIONS, params={"per_page": per_page})
    if page_size is None:
        assert (got_status, codes(body)) == (status, [1001])
        return
    assert got_status == status
    assert body["result_info"]["per_page"] == page_size
    assert len(body["result"]) == min(page_size, 12)


def test_a_clamped_page_size_paginates_to_the_end(emulator: Emulator) -> None:
    """Following the cursor of clamped pages yields every registration once."""
    emulator.assume(max_per_page=5, per_page_over_max="clamp")
    ids = emulator.state.seed(ACCOUNT, 12)
    seen: list[str] = []
    cursor = ""
    for _ in range(5):
        params = {"per_page": "100", **({"cursor": cursor} if cursor else {})}
        body = listed(emulator, **params)
        seen += [r["id"] for r in body["result"]]
        cursor = body["result_info"]["cursor"]
        if not cursor:
            break
    assert seen == sorted(ids)


@pytest.mark.parametrize(("default_per_page", "count"), [(None, 10), (3, 3)])
def test_default_per_page(emulator: Emulator, default_per_page: int | None, count: int) -> None:
    """Without per_page, a page holds 10 registrations, or the assumed default."""
    if default_per_page is not None:
        emulator.assume(default_per_page=default_per_page)
    emulator.state.seed(ACCOUNT, 12)
    info = listed(emulator)["result_info"]
    assert (info["count"], info["per_page"]) == (count, count)


# -- registrations_max_ids ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "sent", "status"),
    [(200, 200, 200), (200, 201, 400), (None, 201, 200), (2, 3, 400), (2, 2, 200)],
)
def test_registrations_revoke_id_limit(
    emulator: Emulator, limit: int | None, sent: int, status: int
) -> None:
    """The registrations revoke takes at most 200 IDs, or the assumed limit, or any number."""
    emulator.assume(registrations_max_ids=limit)
    ids = emulator.state.seed(ACCOUNT, sent)
    got_status, body = ask(emulator, "revoke", "registrations", ids)
    assert got_status == status, body
    assert emulator.state.revoked_ids(ACCOUNT) == (set(ids) if status == 200 else set())


def test_the_devices_revoke_keeps_its_documented_limit(emulator: Emulator) -> None:
    """The deprecated revoke's 200-ID limit is the schema's, whatever the assumption says."""
    emulator.assume(registrations_max_ids=None)
    ids = emulator.state.seed(ACCOUNT, 201)
    status, body = ask(emulator, "revoke", "devices", ids)
    assert (status, codes(body)) == (400, [1001])


# -- max_uri_length ----------------------------------------------------------------------


def target_of_length(length: int) -> str:
    """A list request whose request target (path and query) is exactly ``length`` bytes."""
    base = f"/client/v4{REGISTRATIONS}?search="
    return base + "x" * (length - len(base))


def get_target(emulator: Emulator, target: str) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{emulator.port}{target}", headers=AUTH, timeout=10)


@pytest.mark.parametrize(
    ("limit", "length", "status"),
    [
        (32 * 1024, 32 * 1024, 200),
        (32 * 1024, 32 * 1024 + 1, 414),
        (None, 70_000, 200),
        (100_000, 70_000, 200),
        (100_000, 100_001, 414),
        (None, MAX_REQUEST_LINE + 1, 414),
    ],
)
def test_uri_length_limit(emulator: Emulator, limit: int | None, length: int, status: int) -> None:
    """Targets over the limit get 414 with an envelope; the stdlib's 64 KiB cap never decides."""
    emulator.assume(max_uri_length=limit)
    response = get_target(emulator, target_of_length(length))
    assert response.status_code == status
    body = response.json()
    if status == 414:
        assert codes(body) == [1004]
    else:
        assert body["success"] is True and body["result"] == []
    if length <= MAX_REQUEST_LINE:
        assert [r.status for r in emulator.requests.all()] == [status]


def test_the_uri_limit_is_32_kib_by_default() -> None:
    """Cloudflare's documented "32 KB" is read as 32,768 bytes."""
    assert Assumptions().max_uri_length == 32_768


# -- the switches themselves ---------------------------------------------------------------


def test_defaults_are_the_emulators_behaviour_before_the_switches() -> None:
    """Every switch defaults to what the emulator did before it was a switch."""
    assert Assumptions().to_dict() == {
        "unknown_ids": "ignore",
        "status_all_includes_deleted": False,
        "total_count": "number",
        "missing_user": "absent",
        "max_per_page": 1000,
        "per_page_over_max": "refuse",
        "default_per_page": 10,
        "registrations_max_ids": 200,
        "max_uri_length": 32_768,
        "revocation_listed_after": 0,
    }
    assert set(HELP) == set(Assumptions.field_names())


@pytest.mark.parametrize(
    "fields",
    [
        {"unknown_ids": "explode"},
        {"status_all_includes_deleted": "yes"},
        {"total_count": None},
        {"missing_user": "empty"},
        {"max_per_page": 0},
        {"max_per_page": True},
        {"max_per_page": None},
        {"per_page_over_max": "wrap"},
        {"default_per_page": 2.5},
        {"registrations_max_ids": -1},
        {"max_uri_length": MAX_REQUEST_LINE + 1},
        {"colour": "red"},
    ],
)
def test_bad_switch_values_are_refused(emulator: Emulator, fields: dict[str, Any]) -> None:
    """A switch takes only its own values, from Python and from the control surface alike."""
    with pytest.raises((ValueError, TypeError)):
        emulator.assume(**fields)
    response = requests.post(
        f"http://127.0.0.1:{emulator.port}/__emulator/assumptions", json=fields, timeout=5
    )
    assert response.status_code == 400 and response.json()["error"]
    assert emulator.assumptions == Assumptions()


def test_assumptions_over_the_control_surface(emulator: Emulator) -> None:
    """GET shows every switch; POST changes some, takes effect at once; reset restores them."""
    control = f"http://127.0.0.1:{emulator.port}/__emulator"
    assert requests.get(f"{control}/assumptions", timeout=5).json() == Assumptions().to_dict()

    changed = requests.post(
        f"{control}/assumptions", json={"unknown_ids": "refuse", "total_count": "null"}, timeout=5
    ).json()

    assert changed == {**Assumptions().to_dict(), "unknown_ids": "refuse", "total_count": "null"}
    assert emulator.assumptions == Assumptions(unknown_ids="refuse", total_count="null")
    assert ask(emulator, "revoke", "registrations", [GHOST])[0] == 400
    requests.post(f"{control}/reset", timeout=5)
    assert requests.get(f"{control}/assumptions", timeout=5).json() == Assumptions().to_dict()


def test_reset_restores_the_assumptions_the_emulator_was_made_with() -> None:
    """``reset()`` returns to the constructor's assumptions, not to whatever was assumed since."""
    made_with = Assumptions(unknown_ids="refuse")
    with Emulator(assumptions=made_with) as emulator:
        assert emulator.assume(total_count="null") == Assumptions(
            unknown_ids="refuse", total_count="null"
        )
        emulator.reset()
        assert emulator.assumptions == made_with


@pytest.mark.parametrize("lag", [0, 2])
def test_a_revocation_shows_in_the_listing_after_the_lag(emulator: Emulator, lag: int) -> None:
    """revocation_listed_after=N: N list answers still show revoked_at null, then it shows."""
    emulator.assume(revocation_listed_after=lag)
    [reg_id] = emulator.state.seed(ACCOUNT, 1)
    base = f"{emulator.base_url}/accounts/{ACCOUNT}/devices/registrations"
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    revoked = requests.post(f"{base}/revoke", params={"id": reg_id}, headers=headers, timeout=5)
    assert revoked.status_code == 200
    shown = []
    for _ in range(lag + 1):
        listed = requests.get(
            base, params={"id": reg_id, "status": "all"}, headers=headers, timeout=5
        ).json()["result"]
        shown.append(listed[0]["revoked_at"] is not None)
    assert shown == [False] * lag + [True]
    assert emulator.state.revoked_ids(ACCOUNT) == {reg_id}
