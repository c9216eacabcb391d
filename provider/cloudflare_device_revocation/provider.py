"""DeviceRevocationProvider: check, diff, create, update, read and delete, nothing else.

Revocation is irreversible here: no method ever calls unrevoke. Create revokes the
declared IDs; update revokes only the IDs that are new; removing IDs and delete call no
API and say that the registrations stay revoked. While revoking, the provider lists the
IDs of each answered batch to ask Cloudflare which are now revoked (in the same pool of
requests in flight), and records only those: an ID Cloudflare does not have fails the
deployment (or, with ``allow_missing_ids``, is named and listed in ``missing_ids``).
Refresh asks Cloudflare which registrations are still revoked and drops the others from
the state, so that the next ``pulumi up`` revokes them again.

COMPATIBILITY CONTRACT: every stack's state stores this class pickled by reference, as
``cloudflare_device_revocation.provider.DeviceRevocationProvider``. Moving this module or
renaming the class breaks ``pulumi refresh`` and ``pulumi destroy`` of every existing
stack; a release that moves it must ship an alias module, and tests/test_upgrade.py must
prove that a state written by an older release still works.

The instance is pickled into the state by the dynamic-provider machinery, so it holds no
credential and no client: the stack config given to ``configure`` is kept out of the
pickle, and settings are resolved, and a client made, at each call.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from .client import DEFAULT_ENDPOINT, CloudflareClient, Endpoint
from .errors import CloudflareError, RevocationError
from .inputs import (
    ACCOUNT_ID,
    ALLOW_MISSING_IDS,
    ENDPOINT,
    REGISTRATION_IDS,
    RESOURCE_NAME,
    has_unknown,
    is_unknown,
    normalize,
)
from .messages import (
    Progress,
    They,
    announcer,
    be,
    id_list,
    missing_message,
    not_revoked_message,
    refusal_note,
    registrations,
    resource_label,
    say,
    them,
)
from .ratelimit import WaitHook
from .settings import CONFIG_KEYS, Settings, resolve_settings

__all__ = [
    "BATCHES_IN_FLIGHT",
    "DEBUG_ENV",
    "MISSING_IDS",
    "REVOKED_IDS",
    "ClientFactory",
    "DeploymentError",
    "DeviceRevocationProvider",
]

REVOKED_IDS = "revoked_ids"
MISSING_IDS = "missing_ids"
# Requests in flight at once for one resource, revoke batches of 200 IDs and the list
# requests that confirm them together: 6 makes a 10,000-ID create at 50 ms per request take
# 0.31x the sequential floor of its revokes, 4 took 0.44x (benchmarks/README.md, section 5).
# The provider server runs at most 4 operations at once, so one provider process keeps at
# most 24 requests in flight; the shared limiter keeps them within Cloudflare's quota.
BATCHES_IN_FLIGHT = 6
# Set to 1 for full Python tracebacks on every error (they are hidden for errors whose
# message says everything: Cloudflare's answers, configuration, bad input).
DEBUG_ENV = "CLOUDFLARE_DEVICE_REVOCATION_DEBUG"

# Builds the client for one call from resolved settings and the hook that tells the user
# about each wait; the default shares one rate limiter per credentials in the process.
ClientFactory = Callable[[Settings, WaitHook], CloudflareClient]
# The inputs, as the state stores them; refresh gives them back with drifted IDs dropped.
_INPUT_KEYS = (ACCOUNT_ID, REGISTRATION_IDS, ENDPOINT, ALLOW_MISSING_IDS, RESOURCE_NAME)

P = ParamSpec("P")
R = TypeVar("R")


class DeploymentError(Exception):
    """A deployment step failed for a reason the message states in full."""


def _in_provider_server() -> bool:
    """Whether this process is pulumi's dynamic-provider server (not a test, not a program)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", "") == "pulumi.dynamic.__main__"


def _reported(
    method: Callable[Concatenate[DeviceRevocationProvider, P], R],
) -> Callable[Concatenate[DeviceRevocationProvider, P], R]:
    """Turn failures into one ``DeploymentError`` whose first line names the cause.

    The dynamic-provider server shows the user ``traceback.format_exc()`` of whatever
    escapes. For errors whose message says everything (Cloudflare's answer, settings,
    input), the traceback is noise, and a chained cause prints the message twice; so they
    are raised again unchained, and the server process formats no stack frames. Anything
    unexpected keeps its traceback, inside the message. ``DEBUG_ENV=1`` keeps them all.
    """

    def wrapper(self: DeviceRevocationProvider, /, *args: P.args, **kwargs: P.kwargs) -> R:
        debug = os.environ.get(DEBUG_ENV) == "1"
        if _in_provider_server() and not debug:
            sys.tracebacklimit = 0
        try:
            return method(self, *args, **kwargs)
        except DeploymentError:
            raise
        except CloudflareError as exc:
            if debug:
                raise
            raise DeploymentError(str(exc)) from None
        except Exception as exc:
            if debug:
                raise
            details = "".join(traceback.format_exception(exc, limit=64))
            raise DeploymentError(
                f"unexpected error in DeviceRevocationProvider.{method.__name__} (a bug: "
                f"please report it with this traceback):\n{details}"
            ) from None

    functools.update_wrapper(wrapper, method)
    return wrapper


@dataclass(frozen=True)
class _Revoked:
    """What one revocation achieved, as Cloudflare confirmed it."""

    revoked: tuple[str, ...]
    missing: tuple[str, ...]


class DeviceRevocationProvider(ResourceProvider):
    """The dynamic provider behind ``DeviceRevocation``.

    ``client_factory`` builds the Cloudflare client from resolved settings (tests pass one
    with a fake clock); it is never pickled, so a provider read back from the state uses
    the default, ``CloudflareClient(settings)``.
    """

    # Only the class reference is pickled (see __getstate__): nothing secret is captured.
    serialize_as_secret_always = False
    # Set by configure() in the provider process; the class default stands until then.
    _config: Mapping[str, Any] = {}
    _client_factory: ClientFactory | None = None

    def __init__(self, client_factory: ClientFactory | None = None) -> None:
        super().__init__()
        if client_factory is not None:
            self._client_factory = client_factory

    def __getstate__(self) -> dict[str, Any]:
        # The stack config holds credentials, and a client factory may hold anything:
        # neither may reach the pickled provider.
        return {}

    def __repr__(self) -> str:
        return "DeviceRevocationProvider()"

    def configure(self, req: ConfigureRequest) -> None:
        values = {key: req.config.get(key) for key in CONFIG_KEYS}
        self._config = {key: value for key, value in values.items() if value is not None}

    def _client(self, label: str) -> CloudflareClient:
        settings = resolve_settings(self._config, os.environ)
        factory = self._client_factory or _default_client
        return factory(settings, announcer(label))

    # -- plan -----------------------------------------------------------------------

    @_reported
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = normalize(news, olds)
        if inputs[ENDPOINT] == "devices" and not failures:
            say(
                f"{resource_label(inputs)}: endpoint 'devices' uses POST /devices/revoke, which "
                "passed its end of life on 2025-11-11 and does not work with multi-user mode; "
                f"remove `endpoint` to use the default, '{DEFAULT_ENDPOINT}'."
            )
        return CheckResult(inputs, [CheckFailure(f.property, f.reason) for f in failures])

    @_reported
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        new_account, old_account = news.get(ACCOUNT_ID), olds.get(ACCOUNT_ID)
        if is_unknown(new_account) or new_account != old_account:
            return DiffResult(changes=True, replaces=[ACCOUNT_ID], delete_before_replace=False)
        new_ids, old_ids = news.get(REGISTRATION_IDS), olds.get(REGISTRATION_IDS)
        ids_changed = (
            is_unknown(new_ids)
            or not isinstance(new_ids, list)
            or not isinstance(old_ids, list)
            or has_unknown(new_ids)
            or set(new_ids) != set(old_ids)
        )
        # An endpoint or allow_missing_ids change is an update that calls no API. A stack
        # from before 0.2.0 has no allow_missing_ids: that reads as its default, False.
        settings_changed = news.get(ENDPOINT) != olds.get(ENDPOINT) or bool(
            news.get(ALLOW_MISSING_IDS)
        ) != bool(olds.get(ALLOW_MISSING_IDS))
        return DiffResult(changes=ids_changed or settings_changed, replaces=[])

    # -- apply ----------------------------------------------------------------------

    @_reported
    def create(self, props: dict[str, Any]) -> CreateResult:
        ids: list[str] = list(props[REGISTRATION_IDS])
        if ids:
            done = self._revoke(props, ids)
        else:
            say(f"{resource_label(props)}: no registration IDs declared: nothing to revoke")
            done = _Revoked((), ())
        return CreateResult(
            f"{props[ACCOUNT_ID]}/{uuid.uuid4()}", _outputs(props, done.revoked, done.missing)
        )

    @_reported
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        new_ids: list[str] = list(news[REGISTRATION_IDS])
        old_ids = set(olds.get(REGISTRATION_IDS) or [])
        added = [i for i in new_ids if i not in old_ids]
        removed = sorted(old_ids - set(new_ids))
        done = self._revoke(news, added) if added else _Revoked((), ())
        if removed:
            say(
                f"{resource_label(news)}: {registrations(len(removed))} removed from the "
                "declaration stay revoked (revocation is irreversible; unrevoke in Cloudflare "
                f"if intended): {id_list(removed)}"
            )
        previous = list(olds.get(REVOKED_IDS) or [])
        already = set(previous)
        revoked = previous + [i for i in done.revoked if i not in already]
        still_declared = set(new_ids)
        missing = [i for i in olds.get(MISSING_IDS) or [] if i in still_declared] + list(
            done.missing
        )
        return UpdateResult(_outputs(news, tuple(revoked), tuple(missing)))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        ids = list(props.get(REVOKED_IDS) or props.get(REGISTRATION_IDS) or [])
        say(
            f"{resource_label(props)}: {registrations(len(ids))} in account "
            f"{props.get(ACCOUNT_ID)} stay revoked: deleting a DeviceRevocation removes it from "
            "the stack only, since revocation is irreversible here. Unrevoke in Cloudflare if "
            "that is what you want."
        )

    def _revoke(self, props: Mapping[str, Any], ids: list[str]) -> _Revoked:
        """Revoke ``ids``, confirm with Cloudflare, and fail unless every ID is accounted for."""
        account_id: str = props[ACCOUNT_ID]
        endpoint: Endpoint = props.get(ENDPOINT) or DEFAULT_ENDPOINT
        label = resource_label(props)
        progress = Progress(label, len(ids))
        with self._client(label) as client:
            try:
                revocation = client.revoke_and_confirm(
                    account_id,
                    ids,
                    endpoint=endpoint,
                    progress=progress,
                    max_in_flight=BATCHES_IN_FLIGHT,
                )
            except RevocationError as exc:
                raise DeploymentError(
                    f"{label}: {exc}\nRevoking is idempotent: once the cause is fixed, run "
                    "`pulumi up` again to revoke the rest."
                ) from None
        result, confirmation = revocation.result, revocation.confirmation
        refused = {i: r for r in result.refusals for i in r.ids}
        if confirmation is None:
            refused_part = f" and refused {len(refused)}" if refused else ""
            raise DeploymentError(
                f"{label}: Cloudflare accepted the revocation of {len(result.accepted)} of "
                f"{registrations(len(ids))} in account {account_id}{refused_part}, but "
                "listing them to confirm it failed, so nothing is recorded as revoked: "
                f"{revocation.listing_error}{refusal_note(list(refused), refused)}\nRun "
                "`pulumi up` again once listing works (revoking again is harmless)."
            )
        not_revoked = confirmation.active
        if not_revoked:
            raise DeploymentError(not_revoked_message(label, account_id, not_revoked, refused))
        missing = confirmation.missing
        summary = (
            f"{label}: revoked {registrations(len(confirmation.revoked))} in account "
            f"{account_id}, confirmed by Cloudflare"
        )
        if missing and not props.get(ALLOW_MISSING_IDS):
            raise DeploymentError(
                missing_message(label, account_id, missing, len(ids), refused)
                + f"\n{summary}; they stay revoked, and are recorded once this "
                "deployment succeeds."
            )
        say(summary)
        if missing:
            say(
                f"{label}: warning: {registrations(len(missing))} not found in account "
                f"{account_id} (allow_missing_ids is set), listed in missing_ids and not "
                f"recorded as revoked: {id_list(missing)}"
            )
        return _Revoked(confirmation.revoked, missing)

    # -- refresh --------------------------------------------------------------------

    @_reported
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        account_id: str = props[ACCOUNT_ID]
        declared: list[str] = list(props.get(REGISTRATION_IDS) or [])
        recorded: list[str] = list(props.get(REVOKED_IDS) or declared)
        to_check = list(dict.fromkeys(recorded + declared))
        label = resource_label(props)
        with self._client(label) as client:
            confirmation = (
                client.confirm(account_id, to_check, max_in_flight=BATCHES_IN_FLIGHT)
                if to_check
                else None
            )
        revoked = set(confirmation.revoked) if confirmation else set()
        drifted = list(confirmation.active) if confirmation else []
        missing = list(confirmation.missing) if confirmation else []
        declared_set = set(declared)
        again = [i for i in drifted if i in declared_set]
        gone = [i for i in drifted if i not in declared_set]
        if again:
            say(
                f"{label}: {registrations(len(again))} in account {account_id} "
                f"{be(again)} no longer revoked in Cloudflare (unrevoked outside Pulumi): "
                f"{id_list(again)}. The next `pulumi up` revokes {them(again)} again."
            )
        if gone:
            say(
                f"{label}: {registrations(len(gone))} in account {account_id} that "
                f"{be(gone)} no longer declared {be(gone)} no longer revoked in Cloudflare "
                f"(unrevoked outside Pulumi): {id_list(gone)}. {They(gone)} {be(gone)} dropped "
                f"from revoked_ids; declare {them(gone)} again to revoke {them(gone)}."
            )
        if missing:
            say(
                f"{label}: Cloudflare no longer lists {registrations(len(missing))} in "
                f"account {account_id} (deleted, or never there): {id_list(missing)}. "
                f"{They(missing)} {be(missing)} dropped from revoked_ids; the next "
                f"`pulumi up` does nothing about {them(missing)}."
            )
        # Only the lists change: a refresh that finds nothing new must change nothing, even
        # in a state written by an older release (which has no allow_missing_ids).
        inputs = {key: props[key] for key in _INPUT_KEYS if key in props}
        drifted_again, recorded_set, missing_set = set(again), set(recorded), set(missing)
        inputs[REGISTRATION_IDS] = [i for i in declared if i not in drifted_again]
        ordered = recorded + [i for i in declared if i not in recorded_set]
        outs = {key: value for key, value in props.items() if not key.startswith("__")}
        outs.update(inputs)
        outs[REVOKED_IDS] = [i for i in ordered if i in revoked]
        declared_missing = [i for i in declared if i in missing_set]
        if declared_missing or MISSING_IDS in props:
            outs[MISSING_IDS] = declared_missing
        return ReadResult(id_, outs, inputs)


def _default_client(settings: Settings, on_wait: WaitHook) -> CloudflareClient:
    """The production client: the stack's retry settings, and the process's shared limiter."""
    return CloudflareClient(
        settings, retry=settings.retry_policy(on_wait=on_wait), limiter=settings.shared_limiter()
    )


def _outputs(
    inputs: Mapping[str, Any], revoked: Sequence[str], missing: Sequence[str]
) -> dict[str, Any]:
    """The resource's outputs: its inputs, and what Cloudflare confirmed."""
    outs = {
        ACCOUNT_ID: inputs[ACCOUNT_ID],
        REGISTRATION_IDS: list(inputs[REGISTRATION_IDS]),
        ENDPOINT: inputs.get(ENDPOINT) or DEFAULT_ENDPOINT,
        ALLOW_MISSING_IDS: bool(inputs.get(ALLOW_MISSING_IDS)),
        REVOKED_IDS: list(revoked),
        MISSING_IDS: list(missing),
    }
    if isinstance(inputs.get(RESOURCE_NAME), str):
        outs[RESOURCE_NAME] = inputs[RESOURCE_NAME]
    return outs
