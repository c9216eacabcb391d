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

A ``Lookup`` shares the pool: once a batch has its answer, its IDs wait for the next
lookup call (listing them, to confirm the revocation), which is sent as soon as enough IDs
wait to fill one (``Lookup.size``), the rest once every batch has its answer. Waiting
lookups go before waiting batches, so that confirming keeps pace with revoking, and no
more than ``max_in_flight`` requests of either kind are ever in flight. A lookup that fails
stops the lookups, not the revocation: the failure comes back in ``RevokeResult``.
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
    "Lookup",
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
class Lookup:
    """A call made on answered IDs, ``size`` at a time, in the revocation's pool.

    ``run`` raises ``CloudflareError`` when it fails; it must be safe to call from
    several threads at once.
    """

    run: Callable[[list[str]], None]
    size: int

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"Expected a lookup size >= 1 but received {self.size!r}")


@dataclass(frozen=True)
class Refusal:
    """IDs that Cloudflare refused to revoke, and its answer. One ID when isolated."""

    ids: tuple[str, ...]
    error: APIStatusError


@dataclass(frozen=True)
class RevokeResult:
    """What Cloudflare accepted and refused, and how many revoke requests it took.

    ``lookup_error``: the first failure of the ``Lookup``, if one was given and failed
    (the IDs it did not reach were not looked up).
    """

    accepted: tuple[str, ...]
    refusals: tuple[Refusal, ...] = ()
    requests: int = 0
    lookup_error: CloudflareError | None = None

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
    lookup: Lookup | None = None,
) -> RevokeResult:
    """Send ``ids`` in batches of ``batch_size``, up to ``max_in_flight`` at once.

    Returns what was accepted and what was refused (after isolating bad IDs). Any other
    failure stops new batches and lookups from starting; once the ones in flight finish,
    ``RevocationError`` names what was and was not revoked. With ``lookup``, every ID of
    an answered batch (accepted or refused) is passed to it, in the same pool.
    """
    all_ids = list(ids)
    batches = [all_ids[i : i + batch_size] for i in range(0, len(all_ids), batch_size)]
    run = _Run(send, batches, lookup, progress, len(all_ids))
    jobs = len(batches) + (-(-len(all_ids) // lookup.size) if lookup else 0)
    with ThreadPoolExecutor(max_workers=max(1, min(max_in_flight, jobs))) as pool:
        pending: dict[Future[_Outcome | None], int | None] = {}
        while True:
            while len(pending) < max_in_flight and (job := run.next_job()) is not None:
                index, call, job_ids = job
                pending[pool.submit(call, job_ids)] = index
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                run.take(pending.pop(future), future)
    outcomes, failures = run.outcomes, run.failures
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
    return RevokeResult(tuple(accepted), tuple(refusals), requests, run.lookup_error)


Job = tuple[int | None, Callable[[list[str]], "_Outcome | None"], list[str]]


class _Run:
    """The state of one call: which jobs to start next, and what the finished ones gave.

    A job is a batch (its index) or a lookup (index None). Used from one thread only.
    """

    def __init__(
        self,
        send: Send,
        batches: list[list[str]],
        lookup: Lookup | None,
        progress: Progress | None,
        total: int,
    ) -> None:
        self.budget = _Budget(per_call=SPLIT_REQUESTS_PER_CALL)
        self.send = send
        self.batches = batches
        self.lookup = lookup
        self.progress = progress
        self.total = total
        self.queued = iter(range(len(batches)))
        self.unanswered = len(batches)
        self.answered: list[str] = []
        self.done = 0
        self.outcomes: dict[int, _Outcome] = {}
        self.failures: dict[int, CloudflareError] = {}
        self.lookup_error: CloudflareError | None = None

    def next_job(self) -> Job | None:
        """A lookup if enough IDs wait for one, else the next batch; None: nothing to start."""
        if self.failures:
            return None
        lookup = self.lookup
        if (
            lookup is not None
            and self.lookup_error is None
            and self.answered
            and (len(self.answered) >= lookup.size or not self.unanswered)
        ):
            chunk = self.answered[: lookup.size]
            del self.answered[: lookup.size]
            return None, self._look_up, chunk
        index = next(self.queued, None)
        if index is None:
            return None
        return index, self._send_batch, self.batches[index]

    def _send_batch(self, ids: list[str]) -> _Outcome:
        return _send_isolating(self.send, ids, self.budget)

    def _look_up(self, ids: list[str]) -> None:
        assert self.lookup is not None
        self.lookup.run(ids)

    def take(self, index: int | None, future: Future[_Outcome | None]) -> None:
        """Record a finished job; unexpected errors (bugs) are raised."""
        error = future.exception()
        if index is None:
            if not isinstance(error, CloudflareError | None):
                raise error
            self.lookup_error = self.lookup_error or error
            return
        self.unanswered -= 1
        if isinstance(error, _SystemicRefusalError):
            self.outcomes[index] = error.outcome
            self.failures[index] = error.error
        elif isinstance(error, CloudflareError):
            self.failures[index] = error
        elif error is not None:
            raise error
        else:
            outcome = future.result()
            assert outcome is not None
            self.outcomes[index] = outcome
            self.answered.extend(self.batches[index])
            self.done += len(outcome.accepted)
            if self.progress is not None:
                self.progress(self.done, self.total)
