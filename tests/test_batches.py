"""revoke_in_batches: refused batches are split until bad IDs are isolated, within stated bounds.

These drive the batching logic with a ``send`` that refuses any request naming a bad ID, as
Cloudflare might (no Cloudflare source says whether it does: see the emulator's
``unknown_ids`` switch, under which the same behaviour is tested over HTTP).
"""

from __future__ import annotations

import math
import threading

import pytest

from cloudflare_device_revocation import (
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RevocationError,
)
from cloudflare_device_revocation.batches import (
    SPLIT_REQUESTS_PER_BATCH,
    SPLIT_REQUESTS_PER_CALL,
    SYSTEMIC_AFTER,
    revoke_in_batches,
)
from cloudflare_device_revocation.errors import APIStatusError


class RefusingSend:
    """Refuses (400) every request that names one of ``bad``; records every request."""

    def __init__(
        self, bad: set[str], error: type[APIStatusError] = BadRequestError, status: int = 400
    ) -> None:
        self.bad = bad
        self.error = error
        self.status = status
        self.sent: list[list[str]] = []
        self.accepted: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, ids: list[str]) -> None:
        with self.lock:
            self.sent.append(list(ids))
        if self.bad & set(ids):
            raise self.error("refused", status_code=self.status)
        with self.lock:
            self.accepted.extend(ids)


def ids_(count: int) -> list[str]:
    return [f"id-{n:05d}" for n in range(count)]


def run(send: RefusingSend, ids: list[str], in_flight: int = 1) -> tuple[list[str], list[str]]:
    result = revoke_in_batches(
        send, ids, account_id="acct", batch_size=200, max_in_flight=in_flight
    )
    assert result.requests == len(send.sent)
    return list(result.accepted), list(result.refused)


@pytest.mark.parametrize("error", [BadRequestError, NotFoundError])
def test_one_bad_id_among_200_is_isolated_in_16_extra_requests(
    error: type[APIStatusError],
) -> None:
    """The other 199 are revoked; the bad one is refused alone; 2*ceil(log2 200) extra requests."""
    ids = ids_(200)
    send = RefusingSend({ids[137]}, error, 404 if error is NotFoundError else 400)
    accepted, refused = run(send, ids)
    assert sorted(accepted) == sorted(set(ids) - {ids[137]})
    assert refused == [ids[137]]
    assert len(send.sent) - 1 <= 2 * math.ceil(math.log2(200))


@pytest.mark.parametrize("bad_count", [2, 3, 5])
def test_a_handful_of_bad_ids_costs_tens_of_requests(bad_count: int) -> None:
    """k bad IDs among 200 cost at most 2*k*ceil(log2(200/k))+4 extra requests, all isolated."""
    ids = ids_(200)
    bad = {ids[n] for n in range(7, 200, 200 // bad_count)[:bad_count]}
    send = RefusingSend(bad)
    accepted, refused = run(send, ids)
    assert set(refused) == bad
    assert set(accepted) == set(ids) - bad
    extra = len(send.sent) - 1
    assert extra <= 2 * bad_count * math.ceil(math.log2(200 / bad_count)) + 4
    assert extra < 70


def test_300_real_and_2_unknown_across_batches() -> None:
    """302 IDs in two batches, one bad ID in each: 300 accepted, both bad ones named."""
    ids = ids_(302)
    bad = {ids[10], ids[250]}
    send = RefusingSend(bad)
    accepted, refused = run(send, ids, in_flight=2)
    assert set(accepted) == set(ids) - bad
    assert sorted(refused) == sorted(bad)


def test_the_split_budget_per_batch_bounds_the_requests() -> None:
    """14 bad IDs in a batch exhaust its split budget; what is left is refused together."""
    ids = ids_(200)
    bad = set(ids[7::14])
    send = RefusingSend(bad)
    accepted, refused = run(send, ids)
    assert len(send.sent) == 1 + SPLIT_REQUESTS_PER_BATCH
    assert bad <= set(refused)
    assert len(refused) > len(bad), "some good IDs were left unisolated with the bad ones"
    assert set(accepted) | set(refused) == set(ids)
    assert not bad & set(accepted)
    assert accepted, "the budget still isolates some good IDs"


def test_a_refusal_that_is_not_about_ids_stops_early() -> None:
    """When every split is refused too, splitting stops after SYSTEMIC_AFTER requests."""
    ids = ids_(1000)
    send = RefusingSend(set(ids))
    with pytest.raises(RevocationError) as caught:
        run(send, ids)
    assert isinstance(caught.value.cause, BadRequestError)
    assert caught.value.revoked == ()
    assert len(send.sent) == 1 + SYSTEMIC_AFTER
    assert len(send.sent) < SPLIT_REQUESTS_PER_CALL


@pytest.mark.parametrize(
    ("error", "status"), [(PermissionDeniedError, 403), (InternalServerError, 503)]
)
def test_errors_not_about_ids_are_not_split(error: type[APIStatusError], status: int) -> None:
    """403 and 5xx refuse the revocation at once: no split, RevocationError with the cause."""
    ids = ids_(200)
    send = RefusingSend({ids[0]}, error, status)
    with pytest.raises(RevocationError) as caught:
        run(send, ids)
    assert len(send.sent) == 1
    assert isinstance(caught.value.cause, error)
    assert str(caught.value) == "refused", "a one-batch failure reads as its cause alone"


def test_single_id_batches_are_refused_without_splitting() -> None:
    """A refused request of one ID is that ID's refusal: one request, nothing to split."""
    send = RefusingSend({"bad"})
    accepted, refused = run(send, ["bad"])
    assert (accepted, refused, len(send.sent)) == ([], ["bad"], 1)
