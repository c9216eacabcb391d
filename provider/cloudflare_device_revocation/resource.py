"""DeviceRevocation: the dynamic resource users declare, with typed inputs and outputs."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi.dynamic import Resource

from .inputs import ACCOUNT_ID, ENDPOINT, REGISTRATION_IDS
from .provider import REVOKED_IDS, DeviceRevocationProvider

__all__ = ["DeviceRevocation"]


class DeviceRevocation(Resource, module="cloudflare", name="DeviceRevocation"):
    """Revokes Cloudflare Zero Trust (WARP) device registrations, irreversibly.

    Creating it revokes ``registration_ids``; adding IDs later revokes only the new
    ones; removing IDs, or deleting the resource, un-revokes nothing. ``pulumi refresh``
    finds registrations unrevoked outside Pulumi, and the next ``pulumi up`` revokes
    them again.
    """

    account_id: pulumi.Output[str]
    """The Cloudflare account, 32 hexadecimal characters (lower-cased)."""
    registration_ids: pulumi.Output[list[str]]
    """The declared registration IDs, normalized: stripped, de-duplicated, sorted."""
    endpoint: pulumi.Output[str]
    """``"devices"`` or ``"registrations"``: which revoke operation is used."""
    revoked_ids: pulumi.Output[list[str]]
    """Every ID this resource has revoked and that is still revoked, including IDs
    since removed from the declaration (they stay revoked)."""

    def __init__(
        self,
        resource_name: str,
        *,
        account_id: pulumi.Input[str],
        registration_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
        endpoint: pulumi.Input[str] = "devices",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Declare registrations to revoke.

        :param resource_name: the Pulumi name of this resource.
        :param account_id: the Cloudflare account ID.
        :param registration_ids: the registration IDs to revoke (at least one).
        :param endpoint: ``"devices"`` for ``POST /accounts/{id}/devices/revoke``
            (deprecated by Cloudflare, unsupported with multi-user mode) or
            ``"registrations"`` for its successor
            ``POST /accounts/{id}/devices/registrations/revoke``.
        :param opts: Pulumi resource options.
        """
        props = {
            ACCOUNT_ID: account_id,
            REGISTRATION_IDS: registration_ids,
            ENDPOINT: endpoint,
            REVOKED_IDS: None,
        }
        super().__init__(DeviceRevocationProvider(), resource_name, props, opts)
