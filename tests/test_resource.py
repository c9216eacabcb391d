"""DeviceRevocation under Pulumi's mocks: what it registers with the engine, and its outputs."""

from __future__ import annotations

import base64
from typing import Any

import dill
import pulumi
import pytest

from cloudflare_device_revocation import DeviceRevocation, DeviceRevocationProvider

ACCOUNT = "699d98642c564d2e855e9661899b7252"
IDS = ["f174e90a-fafe-4643-bbbc-4a0ed4fc8415", "11ffb86f-3f0c-4306-b4a2-e62f872b166a"]
# What the mocked engine answers: unlike any input, so that no assertion can pass on an echo.
ENGINE_OUTPUTS = {"revoked_ids": ["from-the-engine"]}


class Mocks(pulumi.runtime.Mocks):
    """Records each registration; answers every one with ENGINE_OUTPUTS."""

    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(args)
        return f"{args.name}-id", dict(ENGINE_OUTPUTS)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


@pytest.fixture
def mocks() -> Mocks:
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, preview=False)
    return mocks


def declared(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    """The inputs a registration sent to the engine, without the serialized provider."""
    return {k: v for k, v in args.inputs.items() if k != "__provider"}


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_registers_the_dynamic_type_with_its_provider_and_inputs(
    mocks: Mocks,
) -> pulumi.Output[Any]:
    """The engine gets the dynamic type, the declared inputs and the resource's name (no
    endpoint: check fills in the default), and a pickled DeviceRevocationProvider;
    revoked_ids comes from the engine."""
    resource = DeviceRevocation("lost-laptops", account_id=ACCOUNT, registration_ids=IDS)

    def verify(revoked_ids: list[str]) -> None:
        [args] = mocks.registered
        assert (args.typ, args.name) == (
            "pulumi-python:dynamic/cloudflare:DeviceRevocation",
            "lost-laptops",
        )
        assert declared(args) == {
            "account_id": ACCOUNT,
            "registration_ids": IDS,
            "resource_name": "lost-laptops",
        }
        provider = dill.loads(base64.b64decode(args.inputs["__provider"]))
        assert type(provider) is DeviceRevocationProvider
        assert revoked_ids == ENGINE_OUTPUTS["revoked_ids"]

    return resource.revoked_ids.apply(verify)


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_outputs_from_other_resources_reach_the_engine_resolved(
    mocks: Mocks,
) -> pulumi.Output[Any]:
    """account_id, registration_ids and its elements may be Outputs: the engine gets their
    values, and the endpoint and allow_missing_ids given, in the declared order."""
    resource = DeviceRevocation(
        "from-outputs",
        account_id=pulumi.Output.from_input(ACCOUNT),
        registration_ids=[IDS[0], pulumi.Output.from_input(IDS[1])],
        endpoint="devices",
        allow_missing_ids=pulumi.Output.from_input(True),
    )

    def verify(_urn: str) -> None:
        [args] = mocks.registered
        assert declared(args) == {
            "account_id": ACCOUNT,
            "registration_ids": IDS,
            "endpoint": "devices",
            "allow_missing_ids": True,
            "resource_name": "from-outputs",
        }

    return resource.urn.apply(verify)


def test_keyword_only_arguments() -> None:
    """account_id and registration_ids must be named: positional use is a TypeError."""
    with pytest.raises(TypeError):
        DeviceRevocation("x", ACCOUNT, IDS)  # type: ignore[call-arg]
