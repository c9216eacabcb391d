"""What the speed work must keep true: confirming while revoking, list requests sized by the
URI budget, fast paths that give exactly what the slow ones give, and whole output lines
from resources created on several threads at once (found by benchmarks/quota.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN

from cloudflare_device_revocation import (
    CloudflareClient,
    DeploymentError,
    InternalServerError,
    RevocationError,
    Settings,
)
from cloudflare_device_revocation import inputs as inputs_module
from cloudflare_device_revocation.batches import Lookup, revoke_in_batches
from cloudflare_device_revocation.client import LIST_URI_BUDGET, MAX_IDS_PER_LIST
from cloudflare_device_revocation.emulator import Emulator
from cloudflare_device_revocation.inputs import has_unknown, normalize
from cloudflare_device_revocation.provider import BATCHES_IN_FLIGHT
from cloudflare_device_revocation.settings import ApiToken
from cloudflare_device_revocation.transport import encode_query
from support import ACCOUNT, ClientFactory, GatedSession, provider_for

REVOKES = r"/revoke$"
LISTS = r"/registrations$"
UUID_A = "f174e90a-fafe-4643-bbbc-4a0ed4fc8415"
UUID_B = "11ffb86f-3f0c-4306-b4a2-e62f872b166a"


class Recorder:
    """A ``send`` and a lookup that log the order they start in and how many overlap."""

    def __init__(self, *, overlap: int = 1, failing_lookup: int | None = None) -> None:
        self.events: list[tuple[str, int]] = []
        self.looked_up: list[list[str]] = []
        self.active = 0
        self.most_active = 0
        # The first ``overlap`` jobs wait for each other before finishing: they can only
        # all pass if the pool runs that many at once (a pool that runs fewer breaks the
        # barrier after its timeout, and the test fails). No timing involved.
        self.gate = threading.Barrier(overlap, timeout=10) if overlap > 1 else None
        self.started = 0
        self.failing_lookup = failing_lookup
        self.lock = threading.Lock()

    def _start(self, kind: str, count: int) -> None:
        with self.lock:
            self.events.append((kind, count))
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            self.started += 1
            gated = self.gate is not None and self.started <= self.gate.parties
        if gated:
            assert self.gate is not None
            self.gate.wait()

    def _end(self) -> None:
        with self.lock:
            self.active -= 1

    def send(self, ids: list[str]) -> None:
        self._start("revoke", len(ids))
        self._end()

    def look_up(self, ids: list[str]) -> None:
        self._start("list", len(ids))
        try:
            with self.lock:
                self.looked_up.append(list(ids))
                failing = len(self.looked_up) == self.failing_lookup
            if failing:
                raise InternalServerError("listing down", status_code=500)
        finally:
            self._end()


def ids_(count: int) -> list[str]:
    return [f"id-{n:05d}" for n in range(count)]


def test_lookups_go_first_as_soon_as_a_chunk_is_answered() -> None:
    """One at a time, the order is fixed: a lookup starts as soon as enough IDs are answered
    to fill it, before the next batch; the remainder once every batch is answered."""
    recorder = Recorder()
    result = revoke_in_batches(
        recorder.send,
        ids_(10),
        account_id="acct",
        batch_size=2,
        max_in_flight=1,
        lookup=Lookup(recorder.look_up, 4),
    )
    assert recorder.events == [
        ("revoke", 2),
        ("revoke", 2),
        ("list", 4),
        ("revoke", 2),
        ("revoke", 2),
        ("list", 4),
        ("revoke", 2),
        ("list", 2),
    ]
    assert sorted(i for chunk in recorder.looked_up for i in chunk) == ids_(10)
    assert result.requests == 5 and result.lookup_error is None


def test_lookups_and_batches_share_the_bound_on_requests_in_flight() -> None:
    """Batches and lookups together never exceed max_in_flight, and do fill it."""
    recorder = Recorder(overlap=3)
    revoke_in_batches(
        recorder.send,
        ids_(2_000),
        account_id="acct",
        batch_size=200,
        max_in_flight=3,
        lookup=Lookup(recorder.look_up, 500),
    )
    assert recorder.most_active == 3
    assert [len(chunk) for chunk in recorder.looked_up] == [500, 500, 500, 500]


def test_a_failed_lookup_stops_the_lookups_not_the_revocation() -> None:
    """The second lookup fails: every batch is still sent, no lookup follows, the error
    comes back in the result."""
    recorder = Recorder(failing_lookup=2)
    result = revoke_in_batches(
        recorder.send,
        ids_(10),
        account_id="acct",
        batch_size=2,
        max_in_flight=1,
        lookup=Lookup(recorder.look_up, 2),
    )
    assert [kind for kind, _ in recorder.events].count("revoke") == 5
    assert len(recorder.looked_up) == 2
    assert isinstance(result.lookup_error, InternalServerError)
    assert list(result.accepted) == ids_(10)


def test_a_failed_batch_stops_the_lookups_too() -> None:
    """A revoke that fails for good ends the call with RevocationError; nothing starts after."""
    recorder = Recorder()

    def send(ids: list[str]) -> None:
        recorder.send(ids)
        if ids[0] == "id-00004":
            raise InternalServerError("down", status_code=500)

    with pytest.raises(RevocationError):
        revoke_in_batches(
            send,
            ids_(10),
            account_id="acct",
            batch_size=2,
            max_in_flight=1,
            lookup=Lookup(recorder.look_up, 4),
        )
    assert recorder.events == [("revoke", 2), ("revoke", 2), ("list", 4), ("revoke", 2)]


def uri_length(path: str, query: dict[str, list[str]]) -> int:
    """Bytes of path and query as sent (the emulator logs the path below /client/v4)."""
    return len("/client/v4" + path + "?" + urlencode(query, doseq=True))


def test_create_confirms_while_revoking_in_lists_that_fit_the_uri_budget(
    emulator: Emulator,
) -> None:
    """A 2,000-ID create: each list fits in LIST_URI_BUDGET on one page, together they
    name every ID once, and the pool's bound holds. (When the lists start among 6 requests
    in flight depends on thread timing; the order is pinned one at a time below.)"""
    ids = emulator.state.seed(ACCOUNT, 2_000)
    provider = provider_for(emulator)
    inputs = provider.check({}, {"account_id": ACCOUNT, "registration_ids": ids}).inputs
    outs = provider.create(inputs).outs or {}
    assert outs["revoked_ids"] == ids
    log = emulator.requests.all()
    kinds = ["list" if r.method == "GET" else "revoke" for r in log]
    assert kinds.count("revoke") == 10 and kinds.count("list") == 3
    lists = emulator.requests.matching("GET", LISTS)
    assert sorted(i for r in lists for i in r.query["id"]) == sorted(ids)
    for listing in lists:
        assert uri_length(listing.path, listing.query) <= LIST_URI_BUDGET
        assert int(listing.query["per_page"][0]) >= len(listing.query["id"])
    assert emulator.max_concurrent_requests() <= BATCHES_IN_FLIGHT


def test_lists_start_as_soon_as_answered_batches_fill_one_over_http(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """One request at a time, through the emulator: a list request goes out as soon as the
    answered batches fill one (4 batches of 200 > 734 UUIDs per list), before the next
    revoke, and the remainder once every batch is answered."""
    ids = emulator.state.seed(ACCOUNT, 2_000)
    assert client.ids_per_list(ACCOUNT, ids) == 734
    outcome = client.revoke_and_confirm(ACCOUNT, ids, max_in_flight=1)
    assert outcome.confirmation is not None
    assert list(outcome.confirmation.revoked) == ids
    kinds = ["L" if r.method == "GET" else "R" for r in emulator.requests.all()]
    assert "".join(kinds) == "RRRRLRRRRLRRL"
    lists = emulator.requests.matching("GET", LISTS)
    assert [len(r.query["id"]) for r in lists] == [734, 734, 532]


def test_refresh_lists_in_uri_sized_requests_side_by_side(emulator: Emulator) -> None:
    """Refresh of 5,000 revoked IDs: 7 list requests as full as the URI budget allows (not
    10 of 500), BATCHES_IN_FLIGHT at once and never more, and every ID is kept."""
    ids = emulator.state.seed(ACCOUNT, 5_000)
    emulator.state.set_revoked(ACCOUNT, ids, True)
    session = GatedSession(BATCHES_IN_FLIGHT)  # the first 6 pass only side by side
    provider = provider_for(emulator, None, session)
    inputs = provider.check({}, {"account_id": ACCOUNT, "registration_ids": ids}).inputs
    read = provider.read("id", {**inputs, "revoked_ids": ids})
    assert (read.outs or {})["revoked_ids"] == ids
    lists = emulator.requests.matching("GET", LISTS)
    assert sorted(len(r.query["id"]) for r in lists) == [596, *[734] * 6]
    assert all(uri_length(r.path, r.query) <= LIST_URI_BUDGET for r in lists)
    assert session.most == BATCHES_IN_FLIGHT


def test_a_failed_listing_still_revokes_everything_and_says_so(emulator: Emulator) -> None:
    """Listing fails for good: the revocation goes on to the end, and the deployment fails
    saying Cloudflare accepted every ID but nothing is recorded."""
    ids = emulator.state.seed(ACCOUNT, 1_000)
    provider = provider_for(emulator, **{"cloudflare:retries": "0"})
    emulator.inject(method="GET", path=LISTS, status=500, message="listing down", times=-1)
    inputs = provider.check({}, {"account_id": ACCOUNT, "registration_ids": ids}).inputs
    with pytest.raises(DeploymentError) as caught:
        provider.create(inputs)
    message = str(caught.value)
    assert "accepted the revocation of 1000 of 1000 registrations" in message
    assert "listing them to confirm it failed" in message and "listing down" in message
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    # At most one list request per chunk of 734: a failed one is not followed by more.
    assert len(emulator.requests.matching("GET", LISTS)) <= 2


@pytest.mark.parametrize(
    ("base_url", "length", "expected"),
    [
        # 30,000 bytes, less the path, the other parameters and 512 for a cursor, in
        # "id=<36 characters>&" of 40 bytes.
        ("https://api.cloudflare.com/client/v4", 36, 734),
        ("http://127.0.0.1:8080/client/v4", 36, 734),
        ("https://proxy.example/a/much/longer/prefix/client/v4", 36, 733),
        # Short IDs: as many as fit, but no more than MAX_IDS_PER_LIST.
        ("https://api.cloudflare.com/client/v4", 4, MAX_IDS_PER_LIST),
    ],
)
def test_ids_per_list_fills_the_uri_budget(base_url: str, length: int, expected: int) -> None:
    """A list request by ID holds as many IDs as fit in LIST_URI_BUDGET, within the cap."""
    client = CloudflareClient(Settings(ApiToken("t"), base_url))
    assert client.ids_per_list(ACCOUNT, ["x" * length] * 3) == expected


def test_ids_per_list_counts_ids_as_encoded() -> None:
    """An ID that needs escaping is counted at its escaped length."""
    client = CloudflareClient(Settings(ApiToken("t"), "https://api.cloudflare.com/client/v4"))
    plain = client.ids_per_list(ACCOUNT, ["a" * 36])
    escaped = client.ids_per_list(ACCOUNT, ["a" * 35 + "/"])
    assert escaped < plain


def test_a_refused_page_size_caps_the_ids_per_list(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    """Once Cloudflare refuses a page size, a list request by ID holds one page at most."""
    emulator.state.seed(ACCOUNT, 5)
    emulator.assume(max_per_page=300)
    client = make_client()
    assert client.ids_per_list(ACCOUNT, ["x" * 36]) == 734
    client.list_registrations(ACCOUNT, per_page=734)
    sizes = [r.query["per_page"] for r in emulator.requests.matching("GET", LISTS)]
    assert sizes == [["734"], ["367"], ["183"]]
    assert client.ids_per_list(ACCOUNT, ["x" * 36]) == 183


def test_pages_refused_on_several_threads_at_once_are_halved_once(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    """Four lists refused for the same page size lower the cap to half of it, not 1/16."""
    emulator.state.seed(ACCOUNT, 5)
    emulator.assume(max_per_page=399)
    client = make_client()
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        client.list_registrations(ACCOUNT, per_page=400)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.ids_per_list(ACCOUNT, ["x" * 36]) == 200


@pytest.mark.parametrize(
    "params",
    [
        [("id", UUID_A), ("id", UUID_B), ("status", "all"), ("per_page", "500")],
        [("user.id", "u-1"), ("search", "jane doe")],
        [("cursor", "abc=")],
        [("cursor", "a+b/c==")],
        [("id", "ÄÖ"), ("id", "a&b")],
        [("search", "~_.-")],
    ],
)
def test_query_is_what_urlencode_makes(params: list[tuple[str, str]]) -> None:
    """The query is byte for byte urlencode's, joined directly only when nothing needs escaping."""
    assert encode_query(params) == urlencode(params)


def test_an_empty_query_is_none() -> None:
    """No parameters: no query string at all."""
    assert encode_query([]) is None and encode_query(None) is None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], False),
        ([UUID_A, UUID_B], False),
        ([UUID_A, UNKNOWN], True),
        ([UUID_A, Unknown()], True),  # type: ignore[no-untyped-call]
        ([UUID_A, 3], False),
        ([3, UNKNOWN], True),
    ],
)
def test_has_unknown(values: list[Any], expected: bool) -> None:
    """A list holds an unknown when any element is Unknown or the UNKNOWN sentinel string."""
    assert has_unknown(values) is expected


ID_ELEMENTS = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.sampled_from([UUID_A, UUID_B, f" {UUID_B} ", f"{UUID_A}\n", UNKNOWN, "", "dev-1"]),
    st.integers(),
)


@example([UUID_A.upper()], [])
@example([UUID_A, UNKNOWN], [])
@example([UUID_A, f"{UUID_B}\n"], [])
@example([f"{UUID_A}\n{UUID_B}"], [])
@example([UUID_A, UUID_B, UUID_A], [UUID_B])
@given(st.lists(ID_ELEMENTS, max_size=8), st.lists(st.sampled_from([UUID_A, UUID_B]), max_size=2))
def test_normalizing_takes_the_fast_path_only_when_it_agrees(
    ids: list[Any], previous: list[str]
) -> None:
    """Lists the one-pass check accepts normalize exactly as the element-by-element path."""
    news = {"account_id": ACCOUNT, "registration_ids": ids}
    olds = {"registration_ids": previous}
    fast = normalize(news, olds)
    with mock.patch.object(inputs_module, "_already_normal", return_value=False):
        slow = normalize(news, olds)
    assert fast == slow


SAY_ON_THREADS = """
import threading
from cloudflare_device_revocation.messages import say

def speak(n):
    for _ in range(2000):
        say(f"DeviceRevocation r{n}: said by thread {n} " + "x" * 40)

threads = [threading.Thread(target=speak, args=(n,)) for n in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_lines_said_on_several_threads_stay_whole() -> None:
    """Four threads telling the user things through an unbuffered pipe, as in the provider
    process, never run two lines together."""
    done = subprocess.run(
        [sys.executable, "-u", "-c", SAY_ON_THREADS], capture_output=True, text=True, check=True
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 8000
    assert [line for line in lines if line.count("said by") != 1 or not line.endswith("x")] == []
