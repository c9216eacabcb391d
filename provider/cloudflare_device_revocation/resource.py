"""DeviceRevocation: the dynamic resource users declare, with typed inputs and outputs."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi.dynamic import Resource

from .inputs import ACCOUNT_ID, ALLOW_MISSING_IDS, ENDPOINT, REGISTRATION_IDS, RESOURCE_NAME
from .provider import MISSING_IDS, REVOKED_IDS, DeviceRevocationProvider

__all__ = ["DeviceRevocation"]


class DeviceRevocation(Resource, module="cloudflare", name="DeviceRevocation"):
    """Revokes Cloudflare Zero Trust (WARP) device registrations, irreversibly.

    Creating it revokes ``registration_ids`` and asks Cloudflare to confirm each one;
    adding IDs later revokes only the new ones; removing IDs, or deleting the resource,
    un-revokes nothing. ``pulumi refresh`` finds registrations unrevoked outside Pulumi,
    and the next ``pulumi up`` revokes them again.
    """

    account_id: pulumi.Output[str]
    """The Cloudflare account, 32 hexadecimal characters (lower-cased)."""
    registration_ids: pulumi.Output[list[str]]
    """The declared registration IDs, normalized: stripped, de-duplicated, UUIDs lower-cased;
    in the order they were first declared."""
    endpoint: pulumi.Output[str]
    """``"registrations"`` or ``"devices"``: which revoke operation is used."""
    allow_missing_ids: pulumi.Output[bool]
    """Whether IDs Cloudflare does not have are a warning rather than a failure."""
    revoked_ids: pulumi.Output[list[str]]
    """Every ID this resource revoked and Cloudflare lists as revoked, including IDs since
    removed from the declaration (they stay revoked); in the order they were revoked."""
    missing_ids: pulumi.Output[list[str]]
    """Declared IDs that Cloudflare does not list in the account (only with
    ``allow_missing_ids``, or found by ``pulumi refresh``)."""

    def __init__(
        self,
        resource_name: str,
        *,
        account_id: pulumi.Input[str],
        registration_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
        endpoint: pulumi.Input[str] | None = None,
        allow_missing_ids: pulumi.Input[bool] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Declare registrations to revoke.

        :param resource_name: the Pulumi name of this resource.
        :param account_id: the Cloudflare account ID.
        :param registration_ids: the registration IDs to revoke; may be empty.
        :param endpoint: ``"registrations"`` (the default) for
            ``POST /accounts/{id}/devices/registrations/revoke``, or ``"devices"`` for the
            deprecated ``POST /accounts/{id}/devices/revoke`` (end of life 2025-11-11,
            unsupported with multi-user mode).
        :param allow_missing_ids: when true, IDs that Cloudflare does not have (deleted, or
            never in this account) are named in a warning and listed in ``missing_ids``
            instead of failing the deployment. For lists that may legitimately name
            vanished registrations, such as IDs computed from a lookup.
        :param opts: Pulumi resource options.
        """
        props = {
            ACCOUNT_ID: account_id,
            REGISTRATION_IDS: registration_ids,
            ENDPOINT: endpoint,
            ALLOW_MISSING_IDS: allow_missing_ids,
            RESOURCE_NAME: resource_name,
            REVOKED_IDS: None,
            MISSING_IDS: None,
        }
        super().__init__(DeviceRevocationProvider(), resource_name, props, opts)
