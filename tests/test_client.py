"""CloudflareClient against the emulator over real HTTP: requests, state, errors, retries."""

from __future__ import annotations

import socket
import time

import pytest

from cloudflare_device_revocation import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CloudflareClient,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RevocationError,
    UnprocessableEntityError,
)
from cloudflare_device_revocation.emulator import (
    DEFAULT_API_KEY,
    DEFAULT_EMAIL,
    DEFAULT_TOKEN,
    Emulator,
)
from cloudflare_device_revocation.settings import ApiKey, ApiToken, Settings
from support import ACCOUNT, ClientFactory, GatedSession, SleepRecorder

REVOKE_DEVICES = r"/devices/revoke$"
REVOKE_REGISTRATIONS = r"/devices/registrations/revoke$"


def test_revoke_devices_sends_a_json_array_and_revokes(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """The deprecated endpoint gets a bare JSON array body, with the Bearer token."""
    ids = emulator.state.seed(ACCOUNT, 3)
    client.revoke(ACCOUNT, ids[:2], endpoint="devices")
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids[:2])
    [request] = emulator.requests.matching("POST", REVOKE_DEVICES)
    assert request.body == ids[:2]
    assert request.query == {}
    assert request.auth == "token"
    assert request.status == 200


def test_revoke_registrations_sends_ids_as_query_and_no_body(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """The successor endpoint takes repeated ?id= parameters and no body."""
    ids = emulator.state.seed(ACCOUNT, 3)
    client.revoke(ACCOUNT, ids, endpoint="registrations")
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    [request] = emulator.requests.matching("POST", REVOKE_REGISTRATIONS)
    assert request.query == {"id": ids}
    assert request.body is None


@pytest.mark.parametrize(
    ("count", "batch_sizes"),
    [(1, [1]), (200, [200]), (201, [200, 1]), (450, [200, 200, 50])],
)
def test_revoke_batches_at_most_200_ids(
    emulator: Emulator, client: CloudflareClient, count: int, batch_sizes: list[int]
) -> None:
    """N IDs take ceil(N/200) requests, each at most 200 IDs, in order."""
    ids = emulator.state.seed(ACCOUNT, count)
    progress: list[tuple[int, int]] = []
    result = client.revoke(ACCOUNT, ids, progress=lambda *args: progress.append(args))
    sent = emulator.requests.matching("POST", REVOKE_REGISTRATIONS)
    assert [len(r.query["id"]) for r in sent] == batch_sizes
    assert [i for r in sent for i in r.query["id"]] == ids
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert result.accepted == tuple(ids) and result.refusals == ()
    assert result.requests == len(batch_sizes)
    assert progress[-1] == (count, count)


def test_a_failing_batch_names_what_was_and_was_not_revoked(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """Batch 3 of 5 refused (403): 400 IDs revoked, 600 not, and the error says exactly that."""
    ids = emulator.state.seed(ACCOUNT, 1000)
    emulator.inject(
        method="POST", path=REVOKE_REGISTRATIONS, status=403, code=10000, message="no", skip=2
    )
    with pytest.raises(RevocationError) as caught:
        client.revoke(ACCOUNT, ids)
    error = caught.value
    assert (error.batch, error.batches) == (3, 5)
    assert error.revoked == tuple(ids[:400])
    assert error.not_revoked == tuple(ids[400:])
    assert isinstance(error.cause, PermissionDeniedError)
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids[:400])
    assert "stopped at batch 3 of 5" in str(error)
    assert "(400 of 1000)" in str(error) and "(600 of 1000)" in str(error)
    assert "[10000] no" in str(error)
    assert error.__cause__ is None, "chaining would print Cloudflare's message twice"
    # Running it again converges: revoking is idempotent.
    client.revoke(ACCOUNT, ids)
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)


@pytest.mark.parametrize(
    ("status", "code", "exception"),
    [
        (400, 1001, BadRequestError),
        (401, 10000, AuthenticationError),
        (403, 10000, PermissionDeniedError),
        (404, 7003, NotFoundError),
        (409, 1000, ConflictError),
        (422, 1000, UnprocessableEntityError),
        (429, 971, RateLimitError),
        (500, 1000, InternalServerError),
        (502, 1000, InternalServerError),
        (418, 1000, APIStatusError),
    ],
)
def test_status_maps_to_exception(
    emulator: Emulator,
    make_client: ClientFactory,
    status: int,
    code: int,
    exception: type[APIStatusError],
) -> None:
    """Every status family raises its own exception carrying status, code and message."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=status, code=code, message="from cloudflare", times=-1)
    with pytest.raises(exception) as caught:
        make_client(max_attempts=2).revoke_batch(ACCOUNT, ids, endpoint="registrations")
    error = caught.value
    assert type(error) is exception
    assert error.status_code == status
    assert error.codes == (code,)
    assert f"HTTP {status}" in str(error) and f"[{code}] from cloudflare" in str(error)
    assert f"account {ACCOUNT}" in str(error) and "revoke 1 registration in" in str(error)
    retried = status in (409, 429) or status >= 500
    assert len(emulator.requests.all()) == (2 if retried else 1)


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (403, 'the API token must be valid and have the "Zero Trust Write" permission'),
        (401, '"Zero Trust Write"'),
        (404, "check the account ID"),
    ],
)
def test_errors_carry_hints(
    emulator: Emulator, client: CloudflareClient, status: int, hint: str
) -> None:
    """Auth failures point at the token's permission; route failures at account_id."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=status, code=7003 if status == 404 else 10000, message="x")
    with pytest.raises(APIStatusError, match="Hint: ") as caught:
        client.revoke_batch(ACCOUNT, ids, endpoint="registrations")
    assert hint in str(caught.value)


def test_deprecated_endpoint_failure_suggests_the_successor(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """On a multi-user account the deprecated endpoint fails, and says how to switch."""
    emulator.state.account(ACCOUNT, multi_user=True)
    ids = emulator.state.seed(ACCOUNT, 2, multi_user=True)
    with pytest.raises(BadRequestError, match="its successor is POST /devices/registrations"):
        client.revoke_batch(ACCOUNT, ids, endpoint="devices")
    client.revoke_batch(ACCOUNT, ids, endpoint="registrations")
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)


def test_success_false_with_200_is_an_error(emulator: Emulator, client: CloudflareClient) -> None:
    """A 200 whose envelope says success=false is a failure, not a success."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(
        status=200,
        body={
            "success": False,
            "errors": [{"code": 1234, "message": "nope"}],
            "messages": [],
            "result": None,
        },
    )
    with pytest.raises(APIStatusError, match=r"HTTP 200 with success=false: \[1234\] nope"):
        client.revoke_batch(ACCOUNT, ids)
    assert emulator.state.revoked_ids(ACCOUNT) == set()


@pytest.mark.parametrize("body", ["<html>bad gateway</html>", "", '{"success": true, "resu'])
def test_a_body_that_is_not_the_envelope_is_an_error(
    emulator: Emulator, client: CloudflareClient, body: str
) -> None:
    """HTML, empty or truncated JSON with a 200 raise APIResponseValidationError."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=200, body=body)
    with pytest.raises(APIResponseValidationError, match="not Cloudflare's JSON envelope"):
        client.revoke_batch(ACCOUNT, ids)


def test_retries_then_succeeds(
    emulator: Emulator, client: CloudflareClient, sleeps: SleepRecorder
) -> None:
    """Two 503s then success: three requests, one revocation, backoff doubling."""
    ids = emulator.state.seed(ACCOUNT, 2)
    emulator.inject(status=503, times=2)
    client.revoke_batch(ACCOUNT, ids)
    assert [r.status for r in emulator.requests.all()] == [503, 503, 200]
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert len(sleeps.delays) == 2
    assert 1.0 <= sleeps.delays[0] <= 2.0 and 2.0 <= sleeps.delays[1] <= 3.0


def test_retry_after_is_honoured_and_capped(
    emulator: Emulator, client: CloudflareClient, sleeps: SleepRecorder
) -> None:
    """Retry-After (seconds), retry-after-ms, and a Retry-After over 300 s capped to 300."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=429, headers={"Retry-After": "7"})
    emulator.inject(status=429, headers={"retry-after-ms": "250", "Retry-After": "9"})
    emulator.inject(status=429, headers={"Retry-After": "3600"})
    client.revoke_batch(ACCOUNT, ids)
    # Each plus its jitter: up to 10% of the wait, and for Retry-After at least up to 1 s.
    bounds = [(7.0, 8.0), (0.25, 0.275), (300.0, 330.0)]
    for delay, (low, high) in zip(sleeps.delays, bounds, strict=True):
        assert low <= delay <= high
    assert len(emulator.requests.all()) == 4


def test_attempts_are_bounded(
    emulator: Emulator, make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    """A persistent 500 stops after max_attempts and reports how many were made."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=500, times=-1, message="boom")
    with pytest.raises(InternalServerError, match="after 3 attempts: \\[1000\\] boom") as caught:
        make_client(max_attempts=3).revoke_batch(ACCOUNT, ids)
    assert caught.value.attempts == 3
    assert len(emulator.requests.all()) == 3
    assert len(sleeps.delays) == 2


def test_time_budget_stops_retries_before_a_long_wait(
    emulator: Emulator, make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    """A backoff wait that would cross the time budget is not started: the 503 is raised."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=503, times=-1)
    with pytest.raises(InternalServerError):
        make_client(total_timeout=0.5).revoke_batch(ACCOUNT, ids)
    assert sleeps.delays == []
    assert len(emulator.requests.all()) == 1


def test_connection_refused_is_a_connection_error(sleeps: SleepRecorder) -> None:
    """Nothing listening: APIConnectionError after the permitted attempts, no hang."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    from cloudflare_device_revocation import RetryPolicy

    client = CloudflareClient(
        Settings(ApiToken("secret-token-value"), f"http://127.0.0.1:{port}/client/v4"),
        retry=RetryPolicy(max_attempts=3, sleep=sleeps),
    )
    started = time.monotonic()
    with pytest.raises(APIConnectionError, match="no answer after up to 3 attempts") as caught:
        client.revoke_batch(ACCOUNT, ["a"])
    assert not isinstance(caught.value, APITimeoutError)
    assert "secret-token-value" not in str(caught.value)
    assert len(sleeps.delays) == 2
    assert time.monotonic() - started < 5


def test_a_server_that_never_answers_times_out(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    """A read timeout on every attempt raises APITimeoutError within the timeouts' bound."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=None, delay=2.0, times=-1)
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="no answer in time"):
        make_client(max_attempts=2, timeout=(1.0, 0.3)).revoke_batch(ACCOUNT, ids)
    # Two attempts of at most 0.3 s each: well under the server's 2 s delay.
    assert time.monotonic() - started < 1.5


def test_connection_reset_before_the_answer_is_retried(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """A connection closed without an answer is retried, and the revoke goes through."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(disconnect="before_response", times=1)
    client.revoke_batch(ACCOUNT, ids)
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert len(emulator.requests.all()) == 2


def test_a_connection_broken_mid_answer_says_the_request_may_have_applied(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """A body cut short is a connection error that warns the request may have applied."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(
        status=200,
        body={"success": True, "errors": [], "messages": [], "result": None},
        disconnect="mid_body",
    )
    with pytest.raises(APIConnectionError, match="may have been applied"):
        client.revoke_batch(ACCOUNT, ids)


def test_a_credential_echoed_by_the_api_is_redacted(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """If Cloudflare echoes the token back, the error message shows <redacted>."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=400, message="invalid header Bearer emulator-token")
    with pytest.raises(BadRequestError) as caught:
        client.revoke_batch(ACCOUNT, ids)
    assert "emulator-token" not in str(caught.value)
    assert "Bearer <redacted>" in str(caught.value)


def test_api_key_auth_on_the_deprecated_endpoint(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    """A Global API Key is sent as X-Auth-Email + X-Auth-Key and works where allowed."""
    ids = emulator.state.seed(ACCOUNT, 1)
    client = make_client(ApiKey(email=DEFAULT_EMAIL, key=DEFAULT_API_KEY))
    client.revoke_batch(ACCOUNT, ids, endpoint="devices")
    assert emulator.requests.all()[0].auth == "key"
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)


def test_api_key_is_sent_to_registration_operations_and_a_refusal_says_use_a_token(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    """The schema lists only tokens there; a key is sent anyway, and a refusal says why."""
    ids = emulator.state.seed(ACCOUNT, 1)
    client = make_client(ApiKey(email=DEFAULT_EMAIL, key=DEFAULT_API_KEY))
    with pytest.raises(PermissionDeniedError, match="lists only API tokens"):
        client.revoke_batch(ACCOUNT, ids, endpoint="registrations")
    with pytest.raises(PermissionDeniedError, match="lists only API tokens"):
        client.list_registrations(ACCOUNT)
    assert [r.auth for r in emulator.requests.all()] == ["key", "key"]


def test_read_only_token_cannot_revoke(emulator: Emulator, make_client: ClientFactory) -> None:
    """A token without write access gets 403 / 10000 and the permission hint."""
    emulator.tokens["read-only"] = "read"
    ids = emulator.state.seed(ACCOUNT, 1)
    with pytest.raises(PermissionDeniedError, match="Zero Trust Write") as caught:
        make_client(ApiToken("read-only")).revoke_batch(ACCOUNT, ids, endpoint="registrations")
    assert caught.value.codes == (10000,)
    assert emulator.state.revoked_ids(ACCOUNT) == set()


def test_list_follows_the_cursor_to_the_end(emulator: Emulator, client: CloudflareClient) -> None:
    """Pagination: 1,100 registrations at 500 per page is 3 requests and 1,100 results."""
    ids = emulator.state.seed(ACCOUNT, 1100)
    found = client.list_registrations(ACCOUNT)
    assert sorted(r["id"] for r in found) == sorted(ids)
    pages = emulator.requests.matching("GET", r"/registrations$")
    assert len(pages) == 3
    assert all(p.query["per_page"] == ["500"] for p in pages)
    assert "cursor" not in pages[0].query and "cursor" in pages[1].query


def test_a_refused_page_size_is_halved_and_remembered(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """Cloudflare documents no maximum per_page: a 400 for it halves the size, once per client."""
    ids = emulator.state.seed(ACCOUNT, 30)
    emulator.inject(method="GET", path=r"/registrations$", status=400, code=1001, times=2)
    assert sorted(r["id"] for r in client.list_registrations(ACCOUNT)) == sorted(ids)
    assert sorted(r["id"] for r in client.list_registrations(ACCOUNT)) == sorted(ids)
    sizes = [r.query["per_page"] for r in emulator.requests.matching("GET", r"/registrations$")]
    assert sizes == [["500"], ["250"], ["125"], ["125"]]


def test_list_pagination_is_bounded(emulator: Emulator, client: CloudflareClient) -> None:
    """A cursor that never ends stops at max_pages with an error, not a loop."""
    emulator.state.seed(ACCOUNT, 1600)
    with pytest.raises(APIResponseValidationError, match="did not end within 2 pages"):
        client.list_registrations(ACCOUNT, max_pages=2)


def test_registrations_by_id_looks_up_in_chunks_and_sees_revoked(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """Lookup by ID covers revoked and active ones (status=all), in requests as full as
    the URI budget allows (734 UUIDs), one page each."""
    ids = emulator.state.seed(ACCOUNT, 1200)
    emulator.state.set_revoked(ACCOUNT, ids[:600], True)
    found = client.registrations_by_id(ACCOUNT, [*ids, "00000000-0000-0000-0000-000000000000"])
    assert set(found) == set(ids)
    assert {i for i, r in found.items() if r["revoked_at"]} == set(ids[:600])
    lookups = emulator.requests.matching("GET", r"/registrations$")
    assert [len(r.query["id"]) for r in lookups] == [734, 467]
    assert [r.query["per_page"] for r in lookups] == [["734"], ["500"]]
    assert all(r.query["status"] == ["all"] for r in lookups)


def gated_client(emulator: Emulator, session: GatedSession) -> CloudflareClient:
    """A client with the default token that sends through ``session``."""
    settings = Settings(ApiToken(DEFAULT_TOKEN), emulator.base_url)
    return CloudflareClient(settings, session=session)


def test_registrations_by_id_runs_lists_side_by_side_within_the_bound(emulator: Emulator) -> None:
    """With max_in_flight=3, 3,000 IDs take 5 list requests, 3 at once and never more,
    and every ID is found once."""
    ids = emulator.state.seed(ACCOUNT, 3_000)
    session = GatedSession(3)  # the first 3 pass only when they are in flight together
    with gated_client(emulator, session) as client:
        found = client.registrations_by_id(ACCOUNT, ids, max_in_flight=3)
    assert set(found) == set(ids)
    lookups = emulator.requests.matching("GET", r"/registrations$")
    assert sorted(len(r.query["id"]) for r in lookups) == [64, 734, 734, 734, 734]
    assert sorted(i for r in lookups for i in r.query["id"]) == sorted(ids)
    assert session.most == 3


def test_registrations_by_id_stops_listing_after_a_failure(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    """Every list request fails: the two in flight end, none starts after them, and the
    error is raised."""
    ids = emulator.state.seed(ACCOUNT, 3_000)
    emulator.inject(method="GET", status=500, message="listing down", times=-1)
    client = make_client(max_attempts=1)
    with pytest.raises(InternalServerError, match="listing down"):
        client.registrations_by_id(ACCOUNT, ids, max_in_flight=2)
    assert emulator.arrivals() == 2


def test_registrations_by_id_refuses_a_bound_outside_the_pool(client: CloudflareClient) -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        client.registrations_by_id(ACCOUNT, ["a"], max_in_flight=0)


def test_confirm_sorts_ids_into_revoked_active_and_missing(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """Revoked, still active, deleted and unknown IDs land in the right group, in order."""
    ids = emulator.state.seed(ACCOUNT, 4)
    emulator.state.set_revoked(ACCOUNT, [ids[0], ids[2]], True)
    emulator.state.delete_registration(ACCOUNT, ids[3])
    unknown = "00000000-0000-0000-0000-000000000001"
    confirmation = client.confirm(ACCOUNT, [ids[2], unknown, ids[1], ids[0], ids[3]])
    assert confirmation.revoked == (ids[2], ids[0])
    assert confirmation.active == (ids[1],)
    assert confirmation.missing == (unknown, ids[3])


def test_unknown_account_is_refused_with_the_hint(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """An account the token cannot reach: 403 with the credentials hint."""
    with pytest.raises(PermissionDeniedError, match="check the credentials"):
        client.revoke_batch("f" * 32, ["a"])


def test_batch_size_guard(client: CloudflareClient) -> None:
    """revoke_batch refuses more than 200 IDs rather than letting the API reject them."""
    with pytest.raises(ValueError, match="1 to 200"):
        client.revoke_batch(ACCOUNT, ["a"] * 201)


def test_batches_in_flight_are_bounded_and_all_land(emulator: Emulator) -> None:
    """max_in_flight=3 sends 1,200 IDs as 6 batches, 3 at once and never more."""
    ids = emulator.state.seed(ACCOUNT, 1200)
    session = GatedSession(3)  # the first 3 pass only when they are in flight together
    with gated_client(emulator, session) as client:
        client.revoke(ACCOUNT, ids, max_in_flight=3)
    requests_ = emulator.requests.matching("POST", REVOKE_REGISTRATIONS)
    assert len(requests_) == 6
    assert sorted(i for r in requests_ for i in r.query["id"]) == sorted(ids)
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert session.most == 3


def test_a_failure_in_flight_stops_new_batches_and_names_what_landed(
    emulator: Emulator, client: CloudflareClient
) -> None:
    """With batches in flight, a failure stops new ones; the error lists exactly what landed."""
    ids = emulator.state.seed(ACCOUNT, 2000)
    # The first request to arrive fails at once; every other one answers after 0.2 s, so
    # the failure is seen while exactly one other batch is in flight.
    emulator.inject(method="POST", path=REVOKE_REGISTRATIONS, status=403, code=10000)
    emulator.inject(method="POST", path=REVOKE_REGISTRATIONS, status=None, delay=0.2, times=-1)
    with pytest.raises(RevocationError) as caught:
        client.revoke(ACCOUNT, ids, max_in_flight=2)
    error = caught.value
    landed = emulator.state.revoked_ids(ACCOUNT)
    assert len(emulator.requests.matching("POST", REVOKE_REGISTRATIONS)) == 2
    assert len(landed) == 200
    assert set(error.revoked) == landed
    assert set(error.not_revoked) == set(ids) - landed
    emulator.clear_faults()
    client.revoke(ACCOUNT, error.not_revoked, max_in_flight=2)
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
