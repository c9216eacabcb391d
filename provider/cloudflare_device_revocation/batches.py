"""Revoking many IDs: batches in flight, and refused batches split until the bad IDs are isolated.

No Cloudflare source says whether a revoke request that names one registration Cloudflare
cannot revoke (an unknown ID, say) is applied to the others or refused as a whole. So when
a request of several IDs is refused with a client error that may be about its IDs (400,
404, 422), the IDs are split in halves and each half is sent again, down to single IDs,
so that one bad ID never blocks the others. A half that is accepted is revoked; an ID that
is refused on its own is reported with Cloudflare's answer.

The halves are sent level by level (breadth first). The cost is bounded and stated:
isolating k bad IDs in a batch of n costs at most about 2·k·log2(n/k) extra requests (1 bad
ID among 200: 16; 5 among 200: about 60), and never more than ``SPLIT_REQUESTS_PER_BATCH``
per batch nor ``SPLIT_REQUESTS_PER_CALL`` per call; IDs left unisolated when a bound is
reached are reported as refused together. A refusal that is not about IDs (every split is
refused too, as when the account or the operation is wrong) is recognised once
``SYSTEMIC_AFTER`` split requests in a call are refused without one being accepted (30:
the first four levels of halves, 2 + 4 + 8 + 16, all refused; with k bad IDs a level of
more than k halves always has an accepted one, so it takes 16 or more bad IDs in one batch
to be mistaken for it, and then the deployment fails with Cloudflare's answer, which is
honest too), and ends the revocation with that error rather than splitting every batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from .errors import (
    APIStatusError,
    BadRequestError,
    CloudflareError,
    NotFoundError,
    RevocationError,
    UnprocessableEntityError,
)

__all__ = [
    "SPLIT_REQUESTS_PER_BATCH",
    "SPLIT_REQUESTS_PER_CALL",
    "SYSTEMIC_AFTER",
    "Progress",
    "Refusal",
    "RevokeResult",
    "revoke_in_batches",
]

SPLIT_REQUESTS_PER_BATCH = 100
SPLIT_REQUESTS_PER_CALL = 300
SYSTEMIC_AFTER = 30
# Statuses that may mean "one of these IDs is bad": worth splitting the request.
SPLITTABLE: tuple[type[APIStatusError], ...] = (
    BadRequestError,
    NotFoundError,
    UnprocessableEntityError,
)

# Called after each accepted request with (IDs accepted so far, total IDs).
Progress = Callable[[int, int], None]
Send = Callable[[list[str]], None]


@dataclass(frozen=True)
class Refusal:
    """IDs that Cloudflare refused to revoke, and its answer. One ID when isolated."""

    ids: tuple[str, ...]
    error: APIStatusError


@dataclass(frozen=True)
class RevokeResult:
    """What Cloudflare accepted and refused, and how many requests it took."""

    accepted: tuple[str, ...]
    refusals: tuple[Refusal, ...] = ()
    requests: int = 0

    @property
    def refused(self) -> tuple[str, ...]:
        """Every refused ID, in the order of the refusals."""
        return tuple(i for r in self.refusals for i in r.ids)


@dataclass
class _Budget:
    """Split requests spent in one call, shared by the batches in flight."""

    per_call: int
    spent: int = 0
    refused_splits: int = 0
    accepted_after_split: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, requests: int) -> bool:
        """Spend ``requests`` if the call's budget allows all of them."""
        with self.lock:
            if self.spent + requests > self.per_call:
                return False
            self.spent += requests
            return True

    def record(self, *, accepted: bool) -> None:
        """Count the answer to a split request."""
        with self.lock:
            if accepted:
                self.accepted_after_split = True
            else:
                self.refused_splits += 1

    def systemic(self) -> bool:
        with self.lock:
            return self.refused_splits >= SYSTEMIC_AFTER and not self.accepted_after_split


@dataclass
class _Outcome:
    accepted: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    requests: int = 0


class _SystemicRefusalError(Exception):
    """Every split was refused: the refusal is not about the IDs."""

    def __init__(self, error: APIStatusError, outcome: _Outcome) -> None:
        super().__init__(str(error))
        self.error = error
        self.outcome = outcome


def _send_isolating(send: Send, ids: list[str], budget: _Budget) -> _Outcome:
    """Send one batch; when refused for what may be a bad ID, split until isolated."""
    outcome = _Outcome()
    pending = [ids]
    spent_here = 0
    while pending:
        group = pending.pop(0)
        is_split = group is not ids
        outcome.requests += 1
        try:
            send(group)
        except SPLITTABLE as error:
            if is_split:
                budget.record(accepted=False)
            if budget.systemic():
                raise _SystemicRefusalError(error, outcome) from None
            can_split = (
                len(group) > 1 and spent_here + 2 <= SPLIT_REQUESTS_PER_BATCH and budget.take(2)
            )
            if can_split:
                spent_here += 2
                middle = len(group) // 2
                pending += [group[:middle], group[middle:]]
            else:
                outcome.refusals.append(Refusal(tuple(group), error))
            continue
        outcome.accepted.extend(group)
        if is_split:
            budget.record(accepted=True)
    return outcome


def revoke_in_batches(
    send: Send,
    ids: Sequence[str],
    *,
    account_id: str,
    batch_size: int,
    max_in_flight: int,
    progress: Progress | None = None,
) -> RevokeResult:
    """Send ``ids`` in batches of ``batch_size``, up to ``max_in_flight`` at once.

    Returns what was accepted and what was refused (after isolating bad IDs). Any other
    failure stops new batches from starting; once the ones in flight finish,
    ``RevocationError`` names what was and was not revoked.
    """
    all_ids = list(ids)
    batches = [all_ids[i : i + batch_size] for i in range(0, len(all_ids), batch_size)]
    budget = _Budget(per_call=SPLIT_REQUESTS_PER_CALL)
    outcomes: dict[int, _Outcome] = {}
    failures: dict[int, CloudflareError] = {}
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, min(max_in_flight, len(batches)))) as pool:
        pending: dict[Future[_Outcome], int] = {}
        queued = iter(range(len(batches)))
        while True:
            while not failures and len(pending) < max_in_flight:
                index = next(queued, None)
                if index is None:
                    break
                pending[pool.submit(_send_isolating, send, batches[index], budget)] = index
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                index = pending.pop(future)
                error = future.exception()
                if isinstance(error, _SystemicRefusalError):
                    outcomes[index] = error.outcome
                    failures[index] = error.error
                elif isinstance(error, CloudflareError):
                    failures[index] = error
                elif error is not None:
                    raise error
                else:
                    outcomes[index] = future.result()
                    done += len(outcomes[index].accepted)
                    if progress is not None:
                        progress(done, len(all_ids))
    accepted = [i for n in sorted(outcomes) for i in outcomes[n].accepted]
    requests = sum(o.requests for o in outcomes.values()) + len(failures)
    if failures:
        first = min(failures)
        landed = set(accepted)
        raise RevocationError(
            account_id=account_id,
            batch=first + 1,
            batches=len(batches),
            revoked=accepted,
            not_revoked=[i for i in all_ids if i not in landed],
            cause=failures[first],
        )
    refusals = [r for n in sorted(outcomes) for r in outcomes[n].refusals]
    return RevokeResult(tuple(accepted), tuple(refusals), requests)
