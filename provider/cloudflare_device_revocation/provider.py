"""DeviceRevocationProvider: check, diff, create, update, read and delete, nothing else.

Revocation is irreversible here: no method ever calls unrevoke. Create revokes the
declared IDs; update revokes only the IDs that are new; removing IDs and delete call no
API and say that the registrations stay revoked. Refresh asks Cloudflare which declared
registrations are no longer revoked and drops them from the state, so that the next
``pulumi up`` revokes them again.

The instance is pickled into the state by the dynamic-provider machinery, so it holds no
credential: the stack config given to ``configure`` is kept out of the pickle, and
settings are resolved, and a client made, at each call.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from typing import Any

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

from .client import CloudflareClient, Endpoint
from .errors import describe_ids
from .inputs import ACCOUNT_ID, ENDPOINT, REGISTRATION_IDS, is_unknown, normalize
from .settings import CONFIG_KEYS, resolve_settings

__all__ = ["REVOKED_IDS", "DeviceRevocationProvider"]

REVOKED_IDS = "revoked_ids"
# Print a progress line every this many batches during long revocations.
PROGRESS_EVERY = 5
# Batches of 200 IDs in flight at once: 4 makes a large revocation about 4 times faster
# with the same number of requests (benchmarks/README.md); with the engine's default
# --parallel 8 that bounds a deployment to 32 requests at a time.
MAX_IN_FLIGHT = 4


def _say(message: str) -> None:
    """Tell the `pulumi` user: the dynamic provider's stdout is shown to them."""
    print(message, flush=True)


def _plural(count: int) -> str:
    return f"{count} registration{'' if count == 1 else 's'}"


def _progress(done: int, total: int, batch: int, batches: int) -> None:
    if batches > 1 and (batch % PROGRESS_EVERY == 0 or batch == batches):
        _say(f"revoked {done} of {total} registrations (batch {batch} of {batches})")


class DeviceRevocationProvider(ResourceProvider):
    """The dynamic provider behind ``DeviceRevocation``."""

    # Only the class reference is pickled (see __getstate__): nothing secret is captured.
    serialize_as_secret_always = False
    # Set by configure() in the provider process; the class default stands until then.
    _config: Mapping[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        # The stack config holds credentials: it must never reach the pickled provider.
        return {}

    def __repr__(self) -> str:
        return "DeviceRevocationProvider()"

    def configure(self, req: ConfigureRequest) -> None:
        values = {key: req.config.get(key) for key in CONFIG_KEYS}
        self._config = {key: value for key, value in values.items() if value is not None}

    def _client(self) -> CloudflareClient:
        return CloudflareClient(resolve_settings(self._config, os.environ))

    # -- plan -----------------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = normalize(news)
        return CheckResult(inputs, [CheckFailure(f.property, f.reason) for f in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        new_account, old_account = news.get(ACCOUNT_ID), olds.get(ACCOUNT_ID)
        if is_unknown(new_account) or new_account != old_account:
            return DiffResult(changes=True, replaces=[ACCOUNT_ID], delete_before_replace=False)
        new_ids, old_ids = news.get(REGISTRATION_IDS), olds.get(REGISTRATION_IDS)
        ids_changed = (
            is_unknown(new_ids)
            or not isinstance(new_ids, list)
            or not isinstance(old_ids, list)
            or any(is_unknown(i) for i in new_ids)
            or set(new_ids) != set(old_ids)
        )
        endpoint_changed = news.get(ENDPOINT) != olds.get(ENDPOINT)
        return DiffResult(changes=ids_changed or endpoint_changed, replaces=[])

    # -- apply ----------------------------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        account_id: str = props[ACCOUNT_ID]
        ids: list[str] = list(props[REGISTRATION_IDS])
        endpoint: Endpoint = props.get(ENDPOINT) or "devices"
        with self._client() as client:
            client.revoke(
                account_id, ids, endpoint=endpoint, progress=_progress, max_in_flight=MAX_IN_FLIGHT
            )
        _say(f"revoked {_plural(len(ids))} in account {account_id}")
        outs = {
            ACCOUNT_ID: account_id,
            REGISTRATION_IDS: ids,
            ENDPOINT: endpoint,
            REVOKED_IDS: sorted(ids),
        }
        return CreateResult(f"{account_id}/{uuid.uuid4()}", outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        account_id: str = news[ACCOUNT_ID]
        new_ids: list[str] = list(news[REGISTRATION_IDS])
        old_ids = set(olds.get(REGISTRATION_IDS) or [])
        endpoint: Endpoint = news.get(ENDPOINT) or "devices"
        added = sorted(set(new_ids) - old_ids)
        removed = sorted(old_ids - set(new_ids))
        if added:
            with self._client() as client:
                client.revoke(
                    account_id,
                    added,
                    endpoint=endpoint,
                    progress=_progress,
                    max_in_flight=MAX_IN_FLIGHT,
                )
            _say(f"revoked {_plural(len(added))} newly declared in account {account_id}")
        if removed:
            _say(
                f"{_plural(len(removed))} removed from the declaration stay revoked "
                f"(revocation is irreversible; unrevoke them in Cloudflare if intended): "
                f"{describe_ids(removed, limit=10)}"
            )
        revoked = sorted(set(olds.get(REVOKED_IDS) or []) | set(added))
        return UpdateResult(
            {
                ACCOUNT_ID: account_id,
                REGISTRATION_IDS: new_ids,
                ENDPOINT: endpoint,
                REVOKED_IDS: revoked,
            }
        )

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        ids = list(props.get(REVOKED_IDS) or props.get(REGISTRATION_IDS) or [])
        _say(
            f"{_plural(len(ids))} in account {props.get(ACCOUNT_ID)} stay revoked: deleting a "
            "DeviceRevocation removes it from the stack only, since revocation is irreversible "
            "here. Unrevoke in Cloudflare if that is what you want."
        )

    # -- refresh --------------------------------------------------------------------

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        account_id: str = props[ACCOUNT_ID]
        declared: list[str] = list(props.get(REGISTRATION_IDS) or [])
        revoked: list[str] = list(props.get(REVOKED_IDS) or declared)
        to_check = sorted(set(declared) | set(revoked))
        with self._client() as client:
            found = client.find_registrations(account_id, to_check)
        # A registration that is gone (absent or deleted) is not drift: nothing to re-revoke.
        drifted = {
            reg_id
            for reg_id, reg in found.items()
            if reg.get("revoked_at") is None and reg.get("deleted_at") is None
        }
        if drifted:
            _say(
                f"{_plural(len(drifted))} in account {account_id} are no longer revoked in "
                "Cloudflare (unrevoked outside Pulumi): "
                f"{describe_ids(sorted(drifted), limit=10)}. "
                "The next `pulumi up` revokes the declared ones again."
            )
        inputs = {
            ACCOUNT_ID: account_id,
            REGISTRATION_IDS: [i for i in declared if i not in drifted],
            ENDPOINT: props.get(ENDPOINT) or "devices",
        }
        outs = {**inputs, REVOKED_IDS: [i for i in revoked if i not in drifted]}
        return ReadResult(id_, outs, inputs)
