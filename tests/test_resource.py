"""DeviceRevocation under Pulumi's mocks: inputs, types and the serialized provider."""

from __future__ import annotations

import base64
from typing import Any

import pulumi
import pytest

from cloudflare_device_revocation import DeviceRevocation

ACCOUNT = "699d98642c564d2e855e9661899b7252"
IDS = ["f174e90a-fafe-4643-bbbc-4a0ed4fc8415", "11ffb86f-3f0c-4306-b4a2-e62f872b166a"]


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(args)
        return f"{args.name}-id", {**args.inputs, "revoked_ids": sorted(IDS)}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


@pytest.fixture
def mocks() -> Mocks:
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    return mocks


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_registers_a_dynamic_resource_with_its_inputs(mocks: Mocks) -> pulumi.Output[Any]:
    """The resource registers under the dynamic type with inputs and a __provider."""
    resource = DeviceRevocation("lost-laptops", account_id=ACCOUNT, registration_ids=IDS)

    def verify(values: list[Any]) -> None:
        account_id, registration_ids, endpoint, revoked_ids = values
        assert (account_id, registration_ids, endpoint) == (ACCOUNT, IDS, "devices")
        assert revoked_ids == sorted(IDS)
        [args] = mocks.registered
        assert args.typ == "pulumi-python:dynamic/cloudflare:DeviceRevocation"
        assert args.name == "lost-laptops"
        serialized = args.inputs["__provider"]
        assert isinstance(serialized, str)
        assert b"cloudflare_device_revocation.provider" in base64.b64decode(serialized)

    return pulumi.Output.all(
        resource.account_id, resource.registration_ids, resource.endpoint, resource.revoked_ids
    ).apply(verify)


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_outputs_from_other_resources_are_accepted(mocks: Mocks) -> pulumi.Output[Any]:
    """registration_ids may be an Output, and its elements too."""
    ids = pulumi.Output.from_input(IDS[:1])
    resource = DeviceRevocation(
        "from-output",
        account_id=pulumi.Output.from_input(ACCOUNT),
        registration_ids=ids,
        endpoint="registrations",
    )

    def verify(values: list[Any]) -> None:
        assert values == [IDS[:1], "registrations"]

    return pulumi.Output.all(resource.registration_ids, resource.endpoint).apply(verify)


def test_keyword_only_arguments() -> None:
    """account_id and registration_ids must be named: positional use is a TypeError."""
    with pytest.raises(TypeError):
        DeviceRevocation("x", ACCOUNT, IDS)  # type: ignore[call-arg]
