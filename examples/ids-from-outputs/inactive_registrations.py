"""InactiveRegistrations: a snapshot, taken by `pulumi up`, of the registrations gone quiet.

Its ``ids`` output is what this example feeds to ``DeviceRevocation``: a value that exists
only once the snapshot is taken, so the first preview shows it as unknown. The snapshot is
taken when the resource is created and kept after that (a refresh does not retake it); a
new ``inactive_days`` takes a new one, and so does ``pulumi up --replace <its URN>``.

The provider class lives in this module, not in ``__main__``, so that it is pickled by
reference; the dynamic-provider process runs in this directory and imports it from here.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
from pulumi.dynamic import ConfigureRequest, CreateResult, DiffResult, Resource, ResourceProvider

from cloudflare_device_revocation import CloudflareClient, resolve_settings

__all__ = ["InactiveRegistrations", "InactiveRegistrationsProvider"]

# The stack config keys the package reads (see its README, Settings); credentials among them.
_SETTINGS_KEYS = (
    "cloudflare:apiToken",
    "cloudflare:apiKey",
    "cloudflare:email",
    "cloudflare:baseUrl",
    "cloudflare:retries",
    "cloudflare:minBackoff",
    "cloudflare:maxBackoff",
)


def _last_active(registration: dict[str, Any]) -> datetime | None:
    stamp = registration.get("last_seen_at") or registration.get("created_at")
    return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None


class InactiveRegistrationsProvider(ResourceProvider):
    """Lists the account's active registrations not seen for ``inactive_days``, once."""

    serialize_as_secret_always = False
    _config: dict[str, Any] = {}  # noqa: RUF012 - replaced per instance by configure()

    def __getstate__(self) -> dict[str, Any]:
        # The stack config may hold the API token: it must never be pickled into the state.
        return {}

    def configure(self, req: ConfigureRequest) -> None:
        self._config = {k: v for k in _SETTINGS_KEYS if (v := req.config.get(k)) is not None}

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("account_id", "inactive_days") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=changed)

    def create(self, props: dict[str, Any]) -> CreateResult:
        account_id: str = props["account_id"]
        days = int(props["inactive_days"])
        cutoff = datetime.now(UTC) - timedelta(days=days)
        settings = resolve_settings(self._config, os.environ)
        with CloudflareClient(settings) as client:
            active = client.list_registrations(account_id, status="active")
        ids = sorted(
            r["id"] for r in active if (seen := _last_active(r)) is not None and seen < cutoff
        )
        if ids:
            print(f"snapshot: {len(ids)} registration(s) inactive since before {cutoff:%Y-%m-%d}")
        else:
            # An empty snapshot is fine: the DeviceRevocation then revokes nothing.
            print(
                f"snapshot: no active registration in account {account_id} has been inactive "
                f"for {days} days or more: nothing to revoke"
            )
        outs = {
            "account_id": account_id,
            "inactive_days": days,
            "cutoff": cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ids": ids,
        }
        return CreateResult(f"{account_id}/{uuid.uuid4()}", outs)


class InactiveRegistrations(Resource, module="cloudflare", name="InactiveRegistrations"):
    """The registrations of an account not seen for ``inactive_days``, as of `pulumi up`."""

    ids: pulumi.Output[list[str]]
    """The inactive registrations' IDs, sorted."""
    cutoff: pulumi.Output[str]
    """Registrations last seen before this time (UTC) are in ``ids``."""

    def __init__(
        self,
        resource_name: str,
        *,
        account_id: pulumi.Input[str],
        inactive_days: pulumi.Input[int] = 90,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "account_id": account_id,
            "inactive_days": inactive_days,
            "cutoff": None,
            "ids": None,
        }
        super().__init__(InactiveRegistrationsProvider(), resource_name, props, opts)
