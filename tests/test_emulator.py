"""The emulator refuses what Cloudflare refuses, and its control surface works over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import requests

from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from support import ACCOUNT

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}


def call(
    emulator: Emulator,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, dict[str, Any]]:
    response = requests.request(
        method,
        emulator.base_url + path,
        headers=AUTH if headers is None else headers,
        timeout=5,
        **kwargs,
    )
    return response.status_code, response.json()


def codes(body: dict[str, Any]) -> list[int]:
    assert body["success"] is False and body["result"] is None and body["messages"] == []
    return [e["code"] for e in body["errors"]]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("POST", f"/accounts/{ACCOUNT}/devices/revoke", {"json": {"id": "a"}}, 400, 1001),
        ("POST", f"/accounts/{ACCOUNT}/devices/revoke", {"data": b"not json"}, 400, 1001),
        ("POST", f"/accounts/{ACCOUNT}/devices/revoke", {"json": ["a"] * 201}, 400, 1001),
        ("POST", f"/accounts/{ACCOUNT}/devices/revoke", {"json": ["x" * 37]}, 400, 1001),
        ("POST", f"/accounts/{ACCOUNT}/devices/revoke", {"json": []}, 400, 1001),
        ("POST", f"/accounts/{ACCOUNT}/devices/registrations/revoke", {"json": ["a"]}, 400, 1001),
        ("POST", f"/accounts/{ACCOUNT}/devices/registrations/revoke", {}, 400, 1001),
        (
            "GET",
            f"/accounts/{ACCOUNT}/devices/registrations",
            {"params": {"status": "x"}},
            400,
            1001,
        ),
        (
            "GET",
            f"/accounts/{ACCOUNT}/devices/registrations",
            {"params": {"per_page": "0"}},
            400,
            1001,
        ),
        (
            "GET",
            f"/accounts/{ACCOUNT}/devices/registrations",
            {"params": {"cursor": "@@"}},
            400,
            1001,
        ),
        ("GET", f"/accounts/{ACCOUNT}/devices/registrations/nope", {}, 404, 1002),
        ("GET", "/accounts/not-an-account/devices/registrations", {}, 404, 7003),
        ("GET", f"/accounts/{'f' * 32}/devices/registrations", {}, 403, 9109),
        ("GET", f"/accounts/{ACCOUNT}/nothing", {}, 404, 7000),
        ("GET", f"/accounts/{ACCOUNT}/devices", {}, 404, 7000),  # end of life: not emulated
        ("GET", f"/accounts/{ACCOUNT}/devices/some-device", {}, 404, 7000),
        ("DELETE", f"/accounts/{ACCOUNT}/devices/revoke", {}, 405, 7001),
    ],
)
def test_requests_off_the_schema_are_refused(  # noqa: PLR0917 - parametrized
    emulator: Emulator, method: str, path: str, kwargs: dict[str, Any], status: int, code: int
) -> None:
    """Bodies where none is taken, over-long lists and IDs, bad enums and routes are refused."""
    got_status, body = call(emulator, method, path, **kwargs)
    assert (got_status, codes(body)) == (status, [code])
    assert emulator.state.revoked_ids(ACCOUNT) == set()


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 400, 9106),
        ({"Authorization": "Basic abc"}, 400, 6003),
        ({"Authorization": "Bearer wrong"}, 403, 9109),
        ({"X-Auth-Key": "k"}, 400, 6003),
        ({"X-Auth-Key": "k", "X-Auth-Email": "x@example.com"}, 403, 9103),
    ],
)
def test_auth_failures(emulator: Emulator, headers: dict[str, str], status: int, code: int) -> None:
    """Missing, malformed and unknown credentials are refused before anything changes."""
    [reg_id] = emulator.state.seed(ACCOUNT, 1)
    got_status, body = call(
        emulator, "POST", f"/accounts/{ACCOUNT}/devices/revoke", headers=headers, json=[reg_id]
    )
    assert (got_status, codes(body)) == (status, [code])
    assert emulator.state.revoked_ids(ACCOUNT) == set()


def test_most_requests_in_flight_counts_again_after_a_reset(emulator: Emulator) -> None:
    """One request at a time peaks at 1; a reset with none in flight starts again at 0."""
    path = f"/accounts/{ACCOUNT}/devices/registrations"
    assert emulator.max_concurrent_requests() == 0
    call(emulator, "GET", path)
    call(emulator, "GET", path)
    assert emulator.max_concurrent_requests() == 1
    emulator.reset_max_concurrent_requests()
    assert emulator.max_concurrent_requests() == 0
    call(emulator, "GET", path)
    assert emulator.max_concurrent_requests() == 1


def test_list_filters_and_envelope(emulator: Emulator) -> None:
    """Filters by status, id, user and device; result_info carries the cursor."""
    emulator.state.account(ACCOUNT, multi_user=True)
    alice_laptop = emulator.state.add_registration(
        ACCOUNT, device_id="dev-1", user_email="alice@example.com"
    )
    bob_laptop = emulator.state.add_registration(
        ACCOUNT, device_id="dev-1", user_email="bob@example.com"
    )
    emulator.state.add_registration(ACCOUNT, user_email="alice@example.com", revoked=True)
    path = f"/accounts/{ACCOUNT}/devices/registrations"
    assert alice_laptop.id != bob_laptop.id  # multi-user: two registrations on one device

    _, active = call(emulator, "GET", path)
    assert active["success"] is True and active["errors"] == []
    assert len(active["result"]) == 2
    assert active["result_info"] == {"count": 2, "cursor": "", "per_page": 10, "total_count": 2}
    _, everything = call(emulator, "GET", path, params={"status": "all"})
    assert len(everything["result"]) == 3
    _, on_device = call(emulator, "GET", path, params={"device.id": "dev-1"})
    assert {r["user"]["email"] for r in on_device["result"]} == {
        "alice@example.com",
        "bob@example.com",
    }
    assert alice_laptop.user is not None
    _, alices = call(
        emulator, "GET", path, params={"user.id": alice_laptop.user.id, "status": "all"}
    )
    assert len(alices["result"]) == 2
    _, searched = call(emulator, "GET", path, params={"search": "BOB@"})
    assert [r["id"] for r in searched["result"]] == [bob_laptop.id]
    _, by_id = call(emulator, "GET", path, params=[("id", alice_laptop.id), ("id", "none")])
    assert [r["id"] for r in by_id["result"]] == [alice_laptop.id]


@pytest.mark.parametrize("endpoint", ["devices", "registrations"])
def test_unrevoke_undoes_a_revoke(emulator: Emulator, endpoint: str) -> None:
    """Unrevoke (as an admin might, out of band) clears revoked_at; the list shows it active."""
    ids = emulator.state.seed(ACCOUNT, 3)
    emulator.state.set_revoked(ACCOUNT, ids, True)
    if endpoint == "devices":
        status, body = call(emulator, "POST", f"/accounts/{ACCOUNT}/devices/unrevoke", json=ids[:2])
    else:
        status, body = call(
            emulator,
            "POST",
            f"/accounts/{ACCOUNT}/devices/registrations/unrevoke",
            params=[("id", i) for i in ids[:2]],
        )
    assert (status, body["success"]) == (200, True)
    assert emulator.state.revoked_ids(ACCOUNT) == {ids[2]}
    _, active = call(emulator, "GET", f"/accounts/{ACCOUNT}/devices/registrations")
    assert sorted(r["id"] for r in active["result"]) == sorted(ids[:2])
    assert all(r["revoked_at"] is None for r in active["result"])


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", f"/accounts/{ACCOUNT}/devices/unrevoke", {"json": {"id": "r1"}}, 400),
        ("POST", f"/accounts/{ACCOUNT}/devices/unrevoke", {"json": ["x" * 37]}, 400),
        (
            "POST",
            f"/accounts/{ACCOUNT}/devices/registrations/unrevoke",
            {"params": {"id": "r1"}, "json": ["r1"]},
            400,
        ),
        ("POST", f"/accounts/{ACCOUNT}/devices/registrations/unrevoke", {}, 400),
    ],
)
def test_unrevoke_refuses_requests_off_the_schema(
    emulator: Emulator, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    """Unrevoke takes IDs the way its revoke twin does, and nothing else."""
    ids = [emulator.state.add_registration(ACCOUNT, registration_id="r1").id]
    emulator.state.set_revoked(ACCOUNT, ids, True)
    got_status, body = call(emulator, method, path, **kwargs)
    assert (got_status, codes(body)) == (status, [1001])
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)


def test_unrevoke_needs_write_access(emulator: Emulator) -> None:
    """A read-only token cannot unrevoke."""
    emulator.tokens["reader"] = "read"
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.state.set_revoked(ACCOUNT, ids, True)
    status, body = call(
        emulator,
        "POST",
        f"/accounts/{ACCOUNT}/devices/registrations/unrevoke",
        headers={"Authorization": "Bearer reader"},
        params={"id": ids[0]},
    )
    assert (status, codes(body)) == (403, [10000])
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)


def test_control_surface_refuses_what_it_cannot_do(emulator: Emulator) -> None:
    """Unknown operations are 404, malformed JSON and missing fields 400, all with a reason."""
    control = f"http://127.0.0.1:{emulator.port}/__emulator"
    unknown = requests.post(f"{control}/teleport", json={}, timeout=5)
    assert unknown.status_code == 404 and "teleport" in unknown.json()["error"]
    malformed = requests.post(f"{control}/assumptions", data=b"{", timeout=5)
    assert malformed.status_code == 400 and "Malformed JSON" in malformed.json()["error"]
    missing = requests.post(f"{control}/seed", json={"count": 1}, timeout=5)
    assert missing.status_code == 400 and "account_id" in missing.json()["error"]


def test_control_surface_over_http(emulator: Emulator) -> None:
    """Seed, inject a fault, read the request log and state, and reset, all over HTTP."""
    control = f"http://127.0.0.1:{emulator.port}/__emulator"
    ids = requests.post(
        f"{control}/seed", json={"account_id": ACCOUNT, "count": 2}, timeout=5
    ).json()
    assert len(ids) == 2
    faults = requests.post(f"{control}/faults", json={"status": 503, "times": 1}, timeout=5).json()
    assert faults[0]["status"] == 503
    status, _ = call(emulator, "POST", f"/accounts/{ACCOUNT}/devices/revoke", json=ids)
    assert status == 503
    status, _ = call(emulator, "POST", f"/accounts/{ACCOUNT}/devices/revoke", json=ids)
    assert status == 200
    log = requests.get(f"{control}/requests", timeout=5).json()
    assert [r["status"] for r in log] == [503, 200]
    assert all(r["auth"] == "token" for r in log)
    assert DEFAULT_TOKEN not in json.dumps(log)
    state = requests.get(f"{control}/state", timeout=5).json()
    assert all(r["revoked_at"] for r in state[ACCOUNT]["registrations"])
    bad = requests.post(f"{control}/faults", json={"colour": "red"}, timeout=5)
    assert bad.status_code == 400 and "Unknown fault fields" in bad.json()["error"]
    requests.post(f"{control}/reset", timeout=5)
    assert requests.get(f"{control}/state", timeout=5).json() == {}


def run_cli(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start the emulator's command line; return it and the JSON line it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudflare_device_revocation.emulator", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def test_command_line_sets_assumptions_and_the_rate_limit() -> None:
    """Flags such as ``--unknown-ids refuse`` and ``--rate-limit 3/60`` reach the API."""
    process, info = run_cli(
        "--seed",
        "1",
        "--seed-userless",
        "1",
        "--unknown-ids",
        "refuse",
        "--max-uri-length",
        "none",
        "--status-all-includes-deleted",
        "--rate-limit",
        "3/60",
        "--duration",
        "30",
    )
    try:
        assert info["assumptions"]["unknown_ids"] == "refuse"
        assert info["assumptions"]["max_uri_length"] is None
        assert info["assumptions"]["status_all_includes_deleted"] is True
        assert info["assumptions"]["total_count"] == "number"  # not given: the default
        assert info["rate_limit"] == {"quota": 3, "window": 60.0, "block": 60.0}
        registrations = f"{info['base_url']}/accounts/{info['account_id']}/devices/registrations"
        refused = requests.post(
            f"{registrations}/revoke", params={"id": "ghost"}, headers=AUTH, timeout=5
        )
        assert refused.status_code == 400 and "ghost" in refused.text
        listed = requests.get(registrations, headers=AUTH, timeout=5).json()["result"]
        by_id = {r["id"]: r for r in listed}
        [userless] = info["userless_registration_ids"]
        [with_user] = info["registration_ids"]
        assert "user" not in by_id[userless] and by_id[with_user]["user"]["email"]
        assert requests.get(registrations, headers=AUTH, timeout=5).status_code == 200
        blocked = requests.get(registrations, headers=AUTH, timeout=5)
        assert (blocked.status_code, blocked.headers["Retry-After"]) == (429, "60")
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--unknown-ids", "maybe"], "invalid choice"),
        (["--rate-limit", "1200"], "QUOTA/WINDOW"),
        (["--rate-limit", "0/300"], "quota"),
        (["--default-per-page", "0"], "default_per_page"),
        (["--max-per-page", "none"], "max_per_page"),
    ],
)
def test_command_line_refuses_bad_flags(args: list[str], complaint: str) -> None:
    """A bad switch value stops the command line with a message naming it."""
    result = subprocess.run(
        [sys.executable, "-m", "cloudflare_device_revocation.emulator", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2 and complaint in result.stderr


def test_command_line_prints_its_address_and_seeds() -> None:
    """``python -m cloudflare_device_revocation.emulator`` serves and prints one JSON line."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudflare_device_revocation.emulator",
            "--seed",
            "3",
            "--duration",
            "30",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["base_url"].startswith("http://127.0.0.1:")
        assert len(info["registration_ids"]) == 3
        response = requests.get(
            f"{info['base_url']}/accounts/{info['account_id']}/devices/registrations",
            headers=AUTH,
            timeout=5,
        )
        assert len(response.json()["result"]) == 3
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
