"""Quickstart: revoke the registrations listed in stack config.

pulumi config set accountId 699d98642c564d2e855e9661899b7252
pulumi config set --path 'registrationIds[0]' f174e90a-fafe-4643-bbbc-4a0ed4fc8415
pulumi up
"""

from __future__ import annotations

import pulumi

from cloudflare_device_revocation import DeviceRevocation

config = pulumi.Config()

revocation = DeviceRevocation(
    "lost-laptops",
    account_id=config.require("accountId"),
    registration_ids=config.require_object("registrationIds"),
    # Unset: "registrations", the supported operation. "devices" is its deprecated predecessor.
    endpoint=config.get("endpoint"),
)

pulumi.export("revoked_ids", revocation.revoked_ids)
