"""CloudflareClient: the revoke, list and confirm calls, over one ``Transport``.

The operations and their shapes follow Cloudflare's OpenAPI schema for Zero Trust
devices (``cloudflare/api-schemas``):

- ``POST /accounts/{account_id}/devices/registrations/revoke?id=..&id=..``, no body;
- ``POST /accounts/{account_id}/devices/revoke``, a bare JSON array of registration IDs
  (deprecated: end of life 2025-11-11, unsupported with multi-user mode);
- ``GET /accounts/{account_id}/devices/registrations`` with filters and cursor pagination.

The schema lists only API tokens for the registration operations. A Global API Key is
sent anyway (Cloudflare may accept it); when Cloudflare refuses it, the error says that
an API token is what these operations take.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar, get_args
from urllib.parse import quote, quote_plus, urlsplit

import requests

from .batches import Lookup, Progress, RevokeResult, revoke_in_batches
from .errors import APIResponseValidationError, BadRequestError, CloudflareError
from .ratelimit import RateLimiter, Wait
from .retry import RetryPolicy
from .settings import Settings
from .transport import DEFAULT_TIMEOUT, POOL_SIZE, UNRESERVED, Transport

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_TIMEOUT",
    "ENDPOINTS",
    "LIST_URI_BUDGET",
    "MAX_IDS_PER_REQUEST",
    "MAX_REGISTRATION_ID_LENGTH",
    "POOL_SIZE",
    "CloudflareClient",
    "Confirmation",
    "Endpoint",
    "RevokedAndListed",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

Endpoint = Literal["devices", "registrations"]
ENDPOINTS: tuple[Endpoint, ...] = get_args(Endpoint)
# The supported revoke operation; "devices" passed its end of life on 2025-11-11.
DEFAULT_ENDPOINT: Endpoint = "registrations"

# Cloudflare accepts at most this many registration IDs in one revoke request.
MAX_IDS_PER_REQUEST = 200
# The schema's maxLength for a registration ID (a UUID is 36 characters).
MAX_REGISTRATION_ID_LENGTH = 36
# The page size asked for when no IDs set it. Cloudflare documents no maximum page size;
# when it refuses one, the client halves it (see list_registrations).
PER_PAGE = 500
MIN_PER_PAGE = 10
# Bytes of path and query a list request by ID may take in ``revoke_and_confirm``, which
# fills each one with as many IDs as fit (about 740 UUIDs: 14 list requests for 50 revoke
# batches). Cloudflare refuses a URI over 32 KB with 414; whether that is 32,000 or 32,768
# bytes, and whether the path counts, is not documented: the budget is under either.
LIST_URI_BUDGET = 30_000
# And at most this many, whatever their length: the page size asked is that many, and
# Cloudflare documents no maximum (the emulator assumes 1,000).
MAX_IDS_PER_LIST = 1_000
# Room kept in that budget for a pagination cursor, which Cloudflare does not describe
# (assumed: its cursors are well under this).
CURSOR_ROOM = 512
# Characters a query value keeps as they are when encoded.
MAX_LIST_PAGES = 1_000
# Cloudflare does not say whether its listing shows a revoke as soon as the revoke has
# answered. IDs accepted but not listed as revoked yet are listed again after these waits.
CONFIRM_RECHECKS = (1.0, 2.0, 4.0)


@dataclass(frozen=True)
class Confirmation:
    """What Cloudflare lists for a set of registration IDs, each in the order asked.

    ``revoked``: listed with ``revoked_at`` set; ``active``: listed and not revoked;
    ``missing``: not listed, or listed as deleted: Cloudflare has no live registration
    by that ID in the account.
    """

    revoked: tuple[str, ...] = ()
    active: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class RevokedAndListed:
    """A revocation and its confirmation by listing.

    ``confirmation`` covers every ID, or is None when a list request failed: then
    ``listing_error`` says why.
    """

    result: RevokeResult
    confirmation: Confirmation | None
    listing_error: CloudflareError | None = None


def _is_deleted(registration: Mapping[str, Any]) -> bool:
    return registration.get("deleted_at") is not None


def _is_revoked(registration: Mapping[str, Any]) -> bool:
    return registration.get("revoked_at") is not None


class CloudflareClient:
    """A small client for the Zero Trust device registration API.

    Retries, timeouts and auth live here; callers get parsed ``result`` values or a
    ``CloudflareError``. ``session`` may be supplied (a test or a proxy setup); the
    retrying adapter is mounted on it either way.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._settings = settings
        self._retry = retry or settings.retry_policy()
        self._timeout = timeout
        # The largest page size Cloudflare has not refused (None: none refused yet);
        # list requests may run on several threads at once.
        self._page_cap: int | None = None
        self._page_lock = threading.Lock()
        self._transport = Transport(
            settings, self._retry, session=session, timeout=timeout, limiter=limiter
        )
        self._request = self._transport.request

    def __repr__(self) -> str:
        return f"CloudflareClient(base_url={self._settings.base_url!r})"

    def close(self) -> None:
        """Close the underlying session."""
        self._transport.close()

    def __enter__(self) -> CloudflareClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- revoke ---------------------------------------------------------------------

    def revoke(
        self,
        account_id: str,
        registration_ids: Sequence[str],
        *,
        endpoint: Endpoint = DEFAULT_ENDPOINT,
        progress: Progress | None = None,
        max_in_flight: int = 1,
    ) -> RevokeResult:
        """Revoke every ID, in batches of ``MAX_IDS_PER_REQUEST``; see ``batches``.

        Up to ``max_in_flight`` batches are sent at once (each request retries on its own,
        honouring Retry-After). A batch refused for what may be a bad ID is split until
        the bad IDs are isolated; they come back as ``refusals``. After any other failure
        no new batch starts; the ones in flight finish, then ``RevocationError`` names
        what was and was not revoked.
        """
        return self._revoke(
            account_id,
            registration_ids,
            endpoint=endpoint,
            progress=progress,
            max_in_flight=max_in_flight,
            lookup=None,
        )

    def revoke_and_confirm(
        self,
        account_id: str,
        registration_ids: Sequence[str],
        *,
        endpoint: Endpoint = DEFAULT_ENDPOINT,
        progress: Progress | None = None,
        max_in_flight: int = 1,
    ) -> RevokedAndListed:
        """``revoke``, and ``confirm`` every ID, in one pool of ``max_in_flight`` requests.

        The IDs of each answered batch (accepted or refused) are listed as soon as enough
        are waiting to fill a list request up to ``LIST_URI_BUDGET``, with a page size to
        match, while the other batches are revoked (see ``batches``); accepted IDs listed
        as active are rechecked as ``confirm`` does. A revocation failure raises
        ``RevocationError`` as ``revoke`` does; a list request that fails stops the
        listing, not the revocation, and comes back as ``listing_error``.
        """
        ids = list(registration_ids)
        wanted = set(ids)
        found: dict[str, dict[str, Any]] = {}
        found_lock = threading.Lock()

        def look_up(chunk: list[str]) -> None:
            listed = self._list_ids(account_id, chunk)
            with found_lock:
                _keep_wanted(found, listed, wanted)

        lookup = Lookup(look_up, self.ids_per_list(account_id, ids))
        result = self._revoke(
            account_id,
            ids,
            endpoint=endpoint,
            progress=progress,
            max_in_flight=max_in_flight,
            lookup=lookup,
        )
        if result.lookup_error is not None:
            return RevokedAndListed(result, None, result.lookup_error)
        try:
            confirmation = self._settled(
                account_id, ids, _states_of(ids, found), set(result.accepted), max_in_flight
            )
        except CloudflareError as exc:
            return RevokedAndListed(result, None, exc)
        return RevokedAndListed(result, confirmation)

    def _revoke(
        self,
        account_id: str,
        registration_ids: Sequence[str],
        *,
        endpoint: Endpoint,
        progress: Progress | None,
        max_in_flight: int,
        lookup: Lookup | None,
    ) -> RevokeResult:
        if not 1 <= max_in_flight <= POOL_SIZE:
            raise ValueError(
                f"Expected 1 <= max_in_flight <= {POOL_SIZE} but received {max_in_flight!r}"
            )
        if endpoint not in ENDPOINTS:
            raise ValueError(
                f"Expected endpoint to be one of {ENDPOINTS} but received {endpoint!r}"
            )
        return revoke_in_batches(
            lambda ids: self.revoke_batch(account_id, ids, endpoint=endpoint),
            registration_ids,
            account_id=account_id,
            batch_size=MAX_IDS_PER_REQUEST,
            max_in_flight=max_in_flight,
            progress=progress,
            lookup=lookup,
        )

    def revoke_batch(
        self,
        account_id: str,
        registration_ids: Sequence[str],
        *,
        endpoint: Endpoint = DEFAULT_ENDPOINT,
    ) -> None:
        """Revoke up to ``MAX_IDS_PER_REQUEST`` IDs in one request."""
        ids = list(registration_ids)
        if not 1 <= len(ids) <= MAX_IDS_PER_REQUEST:
            raise ValueError(
                f"Expected 1 to {MAX_IDS_PER_REQUEST} registration IDs but received {len(ids)}"
            )
        what = (
            f"revoke {len(ids)} registration{'' if len(ids) == 1 else 's'} in account {account_id}"
        )
        if endpoint == "registrations":
            self._request(
                "POST",
                f"/accounts/{account_id}/devices/registrations/revoke",
                params=[("id", i) for i in ids],
                what=what,
                token_only=True,
            )
        elif endpoint == "devices":
            self._request(
                "POST",
                f"/accounts/{account_id}/devices/revoke",
                json_body=ids,
                what=what,
                deprecated=True,
            )
        else:
            raise ValueError(
                f"Expected endpoint to be one of {ENDPOINTS} but received {endpoint!r}"
            )

    # -- read -----------------------------------------------------------------------

    def list_registrations(
        self,
        account_id: str,
        *,
        ids: Iterable[str] = (),
        user_ids: Iterable[str] = (),
        device_id: str | None = None,
        search: str | None = None,
        status: Literal["active", "all", "revoked"] = "all",
        max_pages: int = MAX_LIST_PAGES,
        per_page: int = PER_PAGE,
    ) -> list[dict[str, Any]]:
        """Every registration matching the filters, following the cursor to the end.

        Cloudflare documents no maximum ``per_page``. If it refuses the page size with a
        400, the client halves it (down to ``MIN_PER_PAGE``) and asks no more than the
        size that worked in its later calls; a smaller page than asked for is fine, since
        the cursor is followed either way.
        """
        while True:
            size = self._page_size(per_page)
            try:
                return self._list_pages(
                    account_id,
                    ids=list(ids),
                    user_ids=list(user_ids),
                    device_id=device_id,
                    search=search,
                    status=status,
                    max_pages=max_pages,
                    per_page=size,
                )
            except BadRequestError:
                if size <= MIN_PER_PAGE:
                    raise
                with self._page_lock:
                    # Lists on other threads may have been refused too: halve once.
                    if self._page_cap is None or self._page_cap > size // 2:
                        self._page_cap = max(MIN_PER_PAGE, size // 2)
                log.debug("list refused; retrying with per_page=%d", self._page_size(per_page))

    def _page_size(self, wanted: int) -> int:
        with self._page_lock:
            cap = self._page_cap
        return wanted if cap is None else min(wanted, cap)

    def ids_per_list(self, account_id: str, ids: Sequence[str]) -> int:
        """How many of ``ids`` fit in one list request within ``LIST_URI_BUDGET`` bytes.

        Counted for the longest ID once encoded; at most ``MAX_IDS_PER_LIST``, and at most
        one page once Cloudflare has refused a page size.
        """
        path = urlsplit(self._settings.base_url).path
        path += f"/accounts/{quote(account_id)}/devices/registrations"
        fixed = len(f"{path}?status=all&per_page=000000&cursor=") + CURSOR_ROOM
        if UNRESERVED.fullmatch("".join(ids)):
            longest = max(map(len, ids), default=0)
        else:
            longest = max((len(quote_plus(i)) for i in ids), default=0)
        fits = max(1, (LIST_URI_BUDGET - fixed) // len(f"id={'x' * longest}&"))
        return self._page_size(min(fits, MAX_IDS_PER_LIST))

    def _list_pages(
        self,
        account_id: str,
        *,
        ids: list[str],
        user_ids: list[str],
        device_id: str | None,
        search: str | None,
        status: str,
        max_pages: int,
        per_page: int,
    ) -> list[dict[str, Any]]:
        base: list[tuple[str, str]] = [("id", i) for i in ids]
        base += [("user.id", u) for u in user_ids]
        if device_id is not None:
            base.append(("device.id", device_id))
        if search is not None:
            base.append(("search", search))
        base += [("status", status), ("per_page", str(per_page))]
        path = f"/accounts/{account_id}/devices/registrations"
        what = f"list registrations in account {account_id}"
        found: list[dict[str, Any]] = []
        seen_cursors: set[str] = set()
        cursor = ""
        for _page in range(max_pages):
            params = base + ([("cursor", cursor)] if cursor else [])
            envelope = self._request(
                "GET", path, params=params, what=what, token_only=True, full=True
            )
            page = envelope.get("result") or []
            if not isinstance(page, list):
                raise APIResponseValidationError(
                    f"Cloudflare API: {what}: expected a list of registrations, got "
                    f"{type(page).__name__}",
                    status_code=200,
                )
            found.extend(r for r in page if isinstance(r, dict))
            info = envelope.get("result_info") or {}
            cursor = (info.get("cursor") or "") if isinstance(info, Mapping) else ""
            if not page or not cursor:
                return found
            if cursor in seen_cursors:
                raise APIResponseValidationError(
                    f"Cloudflare API: {what}: the pagination cursor repeated; stopped after "
                    f"{len(found)} registrations",
                    status_code=200,
                )
            seen_cursors.add(cursor)
        raise APIResponseValidationError(
            f"Cloudflare API: {what}: pagination did not end within {max_pages} pages",
            status_code=200,
        )

    def _list_ids(self, account_id: str, chunk: list[str]) -> list[dict[str, Any]]:
        """One list request (and its further pages) by ID, ``status=all``, with a page
        size to hold the chunk."""
        return self.list_registrations(
            account_id, ids=chunk, status="all", per_page=max(len(chunk), PER_PAGE)
        )

    def registrations_by_id(
        self, account_id: str, ids: Sequence[str], *, max_in_flight: int = 1
    ) -> dict[str, dict[str, Any]]:
        """The registrations Cloudflare lists among ``ids`` (``status=all``), keyed by ID.

        Each list request holds as many IDs as ``ids_per_list`` allows; up to
        ``max_in_flight`` run at once. The first that fails for good is raised, once the
        ones in flight have finished; no other starts after it.
        """
        if not 1 <= max_in_flight <= POOL_SIZE:
            raise ValueError(
                f"Expected 1 <= max_in_flight <= {POOL_SIZE} but received {max_in_flight!r}"
            )
        ids = list(ids)
        size = self.ids_per_list(account_id, ids)
        chunks = [ids[start : start + size] for start in range(0, len(ids), size)]
        found: dict[str, dict[str, Any]] = {}
        wanted = set(ids)
        for listed in _bounded_map(partial(self._list_ids, account_id), chunks, max_in_flight):
            _keep_wanted(found, listed, wanted)
        return found

    def confirm(
        self,
        account_id: str,
        ids: Sequence[str],
        *,
        accepted: Collection[str] = (),
        max_in_flight: int = 1,
    ) -> Confirmation:
        """Ask Cloudflare which of ``ids`` are revoked, still active, or missing.

        Listed as ``registrations_by_id`` does, up to ``max_in_flight`` requests at once.
        IDs in ``accepted`` (a revoke for them was accepted) that are listed as active are
        listed again after each of ``CONFIRM_RECHECKS``, in case the listing lags behind
        the revoke; whatever is still active after that is reported active.
        """
        state = self._states(account_id, ids, max_in_flight)
        return self._settled(account_id, ids, state, accepted, max_in_flight)

    def _settled(
        self,
        account_id: str,
        ids: Sequence[str],
        state: dict[str, str],
        accepted: Collection[str],
        max_in_flight: int,
    ) -> Confirmation:
        """``ids`` sorted by ``state``, once the accepted ones listed active are rechecked."""
        for delay in CONFIRM_RECHECKS:
            lagging = [i for i in ids if state[i] == "active" and i in accepted]
            if not lagging:
                break
            self._pause(
                delay,
                f"{len(lagging)} accepted revocation(s) not listed as revoked yet",
                f"/accounts/{account_id}/devices/registrations",
            )
            state.update(self._states(account_id, lagging, max_in_flight))
        return Confirmation(
            *(
                tuple(i for i in ids if state[i] == kind)
                for kind in ("revoked", "active", "missing")
            )
        )

    def _states(self, account_id: str, ids: Sequence[str], max_in_flight: int) -> dict[str, str]:
        """Each ID's state as listed: "revoked", "active" or "missing"."""
        found = self.registrations_by_id(account_id, ids, max_in_flight=max_in_flight)
        return _states_of(ids, found)

    def _pause(self, seconds: float, reason: str, path: str) -> None:
        """Wait between requests, announced like the retry policy's waits."""
        if self._retry.on_wait is not None:
            self._retry.on_wait(Wait(seconds, reason, "GET", path))
        self._retry.sleep(seconds)


def _bounded_map(call: Callable[[T], R], items: Sequence[T], max_in_flight: int) -> list[R]:
    """``call`` on every item, up to ``max_in_flight`` at once; results in the order the
    calls end. The first exception stops new calls and is raised once those in flight end."""
    if max_in_flight == 1 or len(items) <= 1:
        return [call(item) for item in items]
    results: list[R] = []
    error: BaseException | None = None
    started = 0
    with ThreadPoolExecutor(max_workers=min(max_in_flight, len(items))) as pool:
        running: set[Future[R]] = set()
        while True:
            while error is None and len(running) < max_in_flight and started < len(items):
                running.add(pool.submit(call, items[started]))
                started += 1
            if not running:
                break
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                failure = future.exception()
                if failure is None:
                    results.append(future.result())
                else:
                    error = error or failure
    if error is not None:
        raise error
    return results


def _keep_wanted(
    found: dict[str, dict[str, Any]], listed: Iterable[dict[str, Any]], wanted: set[str]
) -> None:
    """Add the listed registrations whose ID is wanted to ``found``, keyed by ID."""
    for reg in listed:
        reg_id = reg.get("id")
        # A deleted and a live registration may share an ID: the live one wins.
        if (
            isinstance(reg_id, str)
            and reg_id in wanted
            and (reg_id not in found or _is_deleted(found[reg_id]))
        ):
            found[reg_id] = reg


def _states_of(ids: Sequence[str], found: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Each of ``ids`` as ``found`` lists it: "revoked", "active" or "missing"."""
    states: dict[str, str] = {}
    for reg_id in ids:
        reg = found.get(reg_id)
        if reg is None or _is_deleted(reg):
            states[reg_id] = "missing"
        else:
            states[reg_id] = "revoked" if _is_revoked(reg) else "active"
    return states
