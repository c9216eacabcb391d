"""Partial failure: a large revocation that fails part-way converges on the next run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudflare_device_revocation import DeploymentError, DeviceRevocationProvider
from cloudflare_device_revocation.emulator import Emulator
from support import ACCOUNT, provider_for

REVOKES = r"/devices/registrations/revoke$"


def sent_ids(emulator: Emulator) -> list[str]:
    return [i for r in emulator.requests.matching("POST", REVOKES) for i in r.query["id"]]


def inputs(provider: DeviceRevocationProvider, ids: list[str]) -> dict[str, Any]:
    result = provider.check({}, {"account_id": ACCOUNT, "registration_ids": ids})
    assert result.failures == []
    return result.inputs


def test_create_of_1000_failing_part_way_then_converging(emulator: Emulator) -> None:
    """From the third request on, every revoke fails for good: the 400 IDs that landed are
    named, nothing else was sent after the failure was seen, and the next create converges.

    The provider keeps 4 batches in flight, so which batches land is the server's arrival
    order; test_client pins the exact "batch 3 of 5" case with one batch at a time."""
    ids = sorted(emulator.state.seed(ACCOUNT, 1000))
    provider = provider_for(emulator, **{"cloudflare:retries": "1"})
    emulator.inject(method="POST", path=REVOKES, status=500, message="down", skip=2, times=-1)
    with pytest.raises(DeploymentError) as caught:
        provider.create(inputs(provider, ids))
    landed = emulator.state.revoked_ids(ACCOUNT)
    assert len(landed) == 400
    message = str(caught.value)
    assert "of 5: " in message and "run `pulumi up` again" in message
    assert "Revoked before the failure (400 of 1000)" in message
    assert "Not revoked (600 of 1000)" in message and "and 580 more" in message
    assert "[1000] down" in message
    # 2 good requests; each failing batch (the 2 others of the first window, perhaps one
    # more started before the failure came back) tried twice; then nothing.
    assert len(emulator.requests.matching("POST", REVOKES)) in (6, 8)

    emulator.clear_faults()
    emulator.requests.clear()
    outs = provider.create(inputs(provider, ids)).outs or {}
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert outs["revoked_ids"] == ids
    # Confirming 1,000 IDs takes ceil(1000/500) list requests: fewer than the revokes.
    assert len(emulator.requests.matching("GET", r"/registrations$")) == 2
    # Re-revoking the first 400 is harmless; still the floor of ceil(1000/200) requests.
    assert len(emulator.requests.matching("POST", REVOKES)) == 5
    assert sorted(sent_ids(emulator)) == ids
    assert emulator.requests.matching(path="unrevoke") == []


def test_update_failing_half_way_is_completed_by_the_next_update(emulator: Emulator) -> None:
    """An update adding 600 IDs fails at batch 2 of 3; Pulumi keeps the old state, and the
    next update (same olds) revokes everything that is still missing."""
    ids = sorted(emulator.state.seed(ACCOUNT, 610))
    provider = provider_for(emulator, **{"cloudflare:retries": "1"})
    created = provider.create(inputs(provider, ids[:10]))
    olds = created.outs or {}
    news = inputs(provider, ids)
    emulator.inject(method="POST", path=REVOKES, status=503, skip=1, times=-1)
    with pytest.raises(DeploymentError, match=r"Revoked before the failure \(200 of 600\)"):
        provider.update(created.id, olds, news)
    assert len(emulator.state.revoked_ids(ACCOUNT)) == 210

    emulator.clear_faults()
    outs = provider.update(created.id, olds, news).outs or {}
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert outs["registration_ids"] == ids and outs["revoked_ids"] == ids


sets = st.sets(st.integers(min_value=0, max_value=59), min_size=0, max_size=30)


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    """One emulator for every hypothesis example; each example resets it."""
    with Emulator() as emulator:
        yield emulator


@settings(max_examples=40, deadline=None)
@given(old=sets, new=sets)
def test_diff_and_update_revoke_exactly_the_set_difference(
    shared_emulator: Emulator, old: set[int], new: set[int]
) -> None:
    """For any old and new declarations: update revokes exactly new - old, never unrevokes,
    and diff reports a change exactly when the sets differ."""
    emulator = shared_emulator
    emulator.reset()
    pool = emulator.state.seed(ACCOUNT, 60)
    provider: DeviceRevocationProvider = provider_for(emulator)
    old_ids, new_ids = [pool[i] for i in old], [pool[i] for i in new]
    created = provider.create(inputs(provider, old_ids))
    olds = created.outs or {}
    news = inputs(provider, new_ids)
    assert provider.diff(created.id, olds, news).changes is (set(old_ids) != set(new_ids))
    emulator.requests.clear()
    outs = provider.update(created.id, olds, news).outs or {}
    assert sorted(sent_ids(emulator)) == sorted(set(new_ids) - set(old_ids))
    assert emulator.requests.matching(path="unrevoke") == []
    assert emulator.state.revoked_ids(ACCOUNT) == set(old_ids) | set(new_ids)
    assert set(outs["revoked_ids"]) == set(old_ids) | set(new_ids)
