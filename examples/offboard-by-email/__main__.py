"""Offboard people by email: revoke every WARP registration they have, in one declaration.

pulumi config set accountId 699d98642c564d2e855e9661899b7252
pulumi config set --path 'offboard[0]' alice@example.com
pulumi preview   # lists each of alice's registrations: ID, device, active or revoked
pulumi up
"""

from __future__ import annotations

import pulumi

from cloudflare_device_revocation import DeviceRevocation, find_registrations

config = pulumi.Config()
account_id = config.require("accountId")
people: list[str] = config.require_object("offboard")

offboarding = DeviceRevocation(
    "offboarding",
    account_id=account_id,
    # Looked up at every preview and up: a device the person enrolls later is a new ID
    # in the next preview, and the next `pulumi up` revokes it.
    registration_ids=find_registrations(account_id, user_emails=people),
)

pulumi.export("revoked_ids", offboarding.revoked_ids)
