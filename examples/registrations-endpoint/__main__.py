"""Move a stack off /devices/revoke onto /devices/registrations/revoke, its successor.

pulumi config set accountId 699d98642c564d2e855e9661899b7252
pulumi config set --path 'registrationIds[0]' f174e90a-fafe-4643-bbbc-4a0ed4fc8415
pulumi preview --diff         # on an existing stack: ~ endpoint: "devices" => "registrations"
pulumi up
"""

from __future__ import annotations

import pulumi

from cloudflare_device_revocation import DeviceRevocation

# "devices" calls POST /accounts/{id}/devices/revoke, which Cloudflare has deprecated (end
# of life 2025-11-11) and refuses on accounts with multi-user mode; it was the default
# before 0.2.0, so older stacks have it in their state. "registrations", the default since
# 0.2.0, calls its successor; it takes an API token, not a Global API Key. Leaving the
# argument out is the same as "registrations"; it is spelled out here to show the switch.
ENDPOINT = "registrations"

config = pulumi.Config()
account_id = config.require("accountId")
registration_ids: list[str] = config.require_object("registrationIds")

revocation = DeviceRevocation(
    "lost-laptops",
    account_id=account_id,
    registration_ids=registration_ids,
    endpoint=ENDPOINT,
)

# What the reviewer reads: a stack output, which `pulumi preview --diff` (and so the pull
# request comment) prints, unlike log messages.
pulumi.export(
    "revocation",
    {
        "account": account_id,
        "endpoint": ENDPOINT,
        "pulumi_up": "revokes the declared IDs not revoked yet, through this endpoint; "
        "changing the endpoint alone calls no API, and nothing is ever un-revoked",
    },
)
pulumi.export("revoked_ids", revocation.revoked_ids)
