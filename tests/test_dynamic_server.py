"""The real ``pulumi.dynamic`` provider server, driven over gRPC as the engine drives it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.proto import provider_pb2
from pulumi.runtime.rpc import UNKNOWN

from cloudflare_device_revocation import DeviceRevocationProvider
from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from provider_server import ProviderProcess, plain, struct, wrapped_secret
from support import ACCOUNT

URN = "urn:pulumi:dev::test::pulumi-python:dynamic/cloudflare:DeviceRevocation::lost-laptops"
SERIALIZED = serialize_provider(DeviceRevocationProvider())
# Declared in reverse sorted order, so that a declared order and a sorted one always differ.
DECLARED = [
    "f174e90a-fafe-4643-bbbc-4a0ed4fc8415",
    "9b3c1d2e-4f5a-4b6c-8d7e-0f1a2b3c4d5e",
    "11ffb86f-3f0c-4306-b4a2-e62f872b166a",
]


@pytest.fixture
def server(emulator: Emulator) -> Iterator[ProviderProcess]:
    process = ProviderProcess()
    config = {
        # The engine sends secret config wrapped; the server unwraps it before configure().
        "cloudflare:apiToken": wrapped_secret(DEFAULT_TOKEN),
        "cloudflare:baseUrl": emulator.base_url,
        "cloudflare:minBackoff": "0",
        "cloudflare:retries": "1",
    }
    process.stub.Configure(provider_pb2.ConfigureRequest(args=struct(config)))
    yield process
    process.stop()


def props(**values: Any) -> dict[str, Any]:
    return {"__provider": SERIALIZED, **values}


def check(server: ProviderProcess, news: dict[str, Any]) -> provider_pb2.CheckResponse:
    request = provider_pb2.CheckRequest(urn=URN, olds=struct({}), news=struct(news))
    response: provider_pb2.CheckResponse = server.stub.Check(request)
    return response


def test_lifecycle_through_the_dynamic_provider_server(
    emulator: Emulator, server: ProviderProcess
) -> None:
    """Check, Diff, Create, Update, Read and Delete over gRPC, checked against the emulator;
    registration_ids and revoked_ids keep the declared order, new IDs appended."""
    assert sorted(DECLARED, reverse=True) == DECLARED
    for reg_id in DECLARED:
        emulator.state.add_registration(ACCOUNT, registration_id=reg_id)
    first, second, third = DECLARED
    checked = check(server, props(account_id=ACCOUNT.upper(), registration_ids=[first, second]))
    assert list(checked.failures) == []
    inputs = plain(checked.inputs)
    assert inputs["account_id"] == ACCOUNT
    assert inputs["registration_ids"] == [first, second]

    created = server.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=checked.inputs))
    outs = plain(created.properties)
    assert outs["registration_ids"] == [first, second]
    assert outs["revoked_ids"] == [first, second]
    assert emulator.state.revoked_ids(ACCOUNT) == {first, second}

    news = check(server, props(account_id=ACCOUNT, registration_ids=DECLARED)).inputs
    diff = server.stub.Diff(
        provider_pb2.DiffRequest(id=created.id, urn=URN, olds=created.properties, news=news)
    )
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(diff.replaces) == []
    emulator.requests.clear()
    updated = server.stub.Update(
        provider_pb2.UpdateRequest(id=created.id, urn=URN, olds=created.properties, news=news)
    )
    [request] = emulator.requests.matching("POST", r"/revoke$")
    assert request.query["id"] == [third]
    assert plain(updated.properties)["registration_ids"] == DECLARED
    assert plain(updated.properties)["revoked_ids"] == DECLARED

    same = server.stub.Diff(
        provider_pb2.DiffRequest(id=created.id, urn=URN, olds=updated.properties, news=news)
    )
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE

    emulator.state.set_revoked(ACCOUNT, [first], False)
    read = server.stub.Read(
        provider_pb2.ReadRequest(id=created.id, urn=URN, properties=updated.properties)
    )
    assert read.id == created.id
    assert plain(read.inputs)["registration_ids"] == [second, third]
    assert plain(read.properties)["revoked_ids"] == [second, third]

    emulator.requests.clear()
    server.stub.Delete(
        provider_pb2.DeleteRequest(id=created.id, urn=URN, properties=read.properties)
    )
    assert emulator.requests.all() == []
    stderr = server.stop()
    output = "\n".join(server.lines)
    assert "stay revoked" in output
    assert "no longer revoked in Cloudflare" in output
    assert DEFAULT_TOKEN not in output + stderr


def test_account_change_is_a_replacement(emulator: Emulator, server: ProviderProcess) -> None:
    """Diff reports a replacement on account_id."""
    olds = struct(props(account_id=ACCOUNT, registration_ids=["a"], endpoint="devices"))
    news = struct(props(account_id="f" * 32, registration_ids=["a"], endpoint="devices"))
    diff = server.stub.Diff(provider_pb2.DiffRequest(id="x", urn=URN, olds=olds, news=news))
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(diff.replaces) == ["account_id"]


def test_check_failures_reach_the_engine(server: ProviderProcess) -> None:
    """Invalid inputs come back as CheckFailures with property and reason."""
    response = check(server, props(account_id="nope", registration_ids=[" "]))
    assert [(f.property, f.reason) for f in response.failures] == [
        ("account_id", "account_id must be 32 hexadecimal characters, got 'nope' (4 characters)."),
        ("registration_ids", "registration_ids[0] is empty."),
    ]


def test_api_failure_is_a_grpc_error_with_cloudflare_details(
    emulator: Emulator, server: ProviderProcess
) -> None:
    """Create failing with 403/10000 fails the RPC: the first line names the resource, the
    status, Cloudflare's code and message, once, with the hint and no Python traceback."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=403, code=10000, message="Authentication error")
    inputs = check(
        server, props(account_id=ACCOUNT, registration_ids=ids, resource_name="lost-laptops")
    ).inputs
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=inputs))
    details = caught.value.details()
    first = details.splitlines()[0]
    # How the server prefixes the message depends on the pulumi release (the exception's
    # type since 3.2xx, grpc's "Exception calling application: " at the floor).
    assert first.startswith(
        (
            "cloudflare_device_revocation.provider.DeploymentError: ",
            "Exception calling application: ",
        )
    )
    assert "DeviceRevocation lost-laptops: Cloudflare API: cannot revoke 1 registration" in first
    assert "HTTP 403: [10000] Authentication error" in first
    assert details.count("Authentication error") == 1
    assert "Traceback" not in details and 'File "' not in details
    assert "Zero Trust Write" in details
    assert DEFAULT_TOKEN not in details
    assert emulator.state.revoked_ids(ACCOUNT) == set()


def test_outputs_and_serialized_provider_hold_no_credential(
    emulator: Emulator, server: ProviderProcess
) -> None:
    """What the engine would store in state carries neither the token nor the config."""
    ids = emulator.state.seed(ACCOUNT, 1)
    inputs = check(server, props(account_id=ACCOUNT, registration_ids=ids)).inputs
    created = server.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=inputs))
    stored = created.SerializeToString() + inputs.SerializeToString()
    assert DEFAULT_TOKEN.encode() not in stored
    assert set(plain(created.properties)) == {
        "__provider",
        "account_id",
        "registration_ids",
        "endpoint",
        "allow_missing_ids",
        "revoked_ids",
        "missing_ids",
    }
    assert DEFAULT_TOKEN.encode() not in base64.b64decode(SERIALIZED)


def test_unknown_values_in_preview_pass_check_and_diff(server: ProviderProcess) -> None:
    """IDs unknown at preview (an Output of another resource) pass Check and make Diff a
    change, as the engine sends them: the wire sentinel, decoded by the server."""
    news = props(account_id=ACCOUNT, registration_ids=UNKNOWN, endpoint="devices")
    checked = check(server, news)
    assert list(checked.failures) == []
    assert plain(checked.inputs)["registration_ids"] == UNKNOWN
    olds = struct(props(account_id=ACCOUNT, registration_ids=["a"], endpoint="devices"))
    diff = server.stub.Diff(
        provider_pb2.DiffRequest(id="x", urn=URN, olds=olds, news=checked.inputs)
    )
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(diff.replaces) == []
    partly = check(server, props(account_id=ACCOUNT, registration_ids=["a", UNKNOWN]))
    assert list(partly.failures) == []


# Two IDs no account has, declared amid 300 real ones (issues 10 and 12).
UNKNOWN_IDS = ["00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"]


@pytest.mark.parametrize("unknown_ids", ["ignore", "refuse"])
def test_unknown_ids_fail_create_after_revoking_the_rest(
    emulator: Emulator, server: ProviderProcess, unknown_ids: str
) -> None:
    """300 real and 2 unknown IDs, whether Cloudflare skips or refuses unknown IDs: the
    Create RPC fails naming both unknown IDs, with all 300 revoked; with allow_missing_ids
    it succeeds, revoked_ids holding the 300 and missing_ids the 2, in declared order."""
    emulator.assume(unknown_ids=unknown_ids)
    ids = emulator.state.seed(ACCOUNT, 300)
    declared = [*ids[:150], UNKNOWN_IDS[0], *ids[150:], UNKNOWN_IDS[1]]
    news = props(account_id=ACCOUNT, registration_ids=declared, resource_name="lost-laptops")
    inputs = check(server, news).inputs
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=inputs))
    details = caught.value.details()
    assert "DeviceRevocation lost-laptops: 2 of 302 declared registration IDs are not" in details
    assert all(unknown in details for unknown in UNKNOWN_IDS), details
    assert "allow_missing_ids=True" in details
    assert "Traceback" not in details
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)

    allowed = check(server, {**news, "allow_missing_ids": True}).inputs
    created = server.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=allowed))
    outs = plain(created.properties)
    assert outs["revoked_ids"] == ids
    assert outs["missing_ids"] == UNKNOWN_IDS
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    server.stop()
    assert any("warning: 2 registrations not found" in line for line in server.lines)


def test_progress_never_claims_more_revoked_than_cloudflare_confirms(
    emulator: Emulator, server: ProviderProcess
) -> None:
    """Where Cloudflare skips unknown IDs, no line the user sees claims more revoked than the
    300 that Cloudflare lists as revoked."""
    ids = emulator.state.seed(ACCOUNT, 300)
    declared = [*ids, *UNKNOWN_IDS]
    news = props(account_id=ACCOUNT, registration_ids=declared, allow_missing_ids=True)
    inputs = check(server, news).inputs
    server.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=inputs))
    server.stop()
    assert not any("revoked 302" in line for line in server.lines), server.lines
