"""Secrets: the credential never reaches logs, errors, or a host that would see it in clear."""

from __future__ import annotations

import logging
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from cloudflare_device_revocation import (
    APIConnectionError,
    CloudflareClient,
    DeploymentError,
    DeviceRevocationProvider,
    RetryPolicy,
    RevocationError,
    Settings,
)
from cloudflare_device_revocation.emulator import DEFAULT_API_KEY, DEFAULT_EMAIL, Emulator
from cloudflare_device_revocation.settings import ApiToken
from support import ACCOUNT, ClientFactory

TOKEN = "cf-secret-token-5d41402abc4b2a76b971"


def test_debug_logs_never_contain_the_token(
    emulator: Emulator, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Retries, errors and successes logged at DEBUG by us, requests and urllib3: no token."""
    emulator.tokens[TOKEN] = "write"
    ids = emulator.state.seed(ACCOUNT, 2)
    client = make_client(ApiToken(TOKEN))
    caplog.set_level(logging.DEBUG)
    emulator.inject(status=503)
    client.revoke(ACCOUNT, ids)
    emulator.inject(status=403, message=f"bad header: Bearer {TOKEN}")
    with pytest.raises(RevocationError):
        client.revoke(ACCOUNT, ids)
    client.list_registrations(ACCOUNT)
    assert "POST /accounts/" in caplog.text  # the logs are there, and they are useful
    assert TOKEN not in caplog.text


def test_an_echoed_api_key_is_redacted_in_provider_errors(emulator: Emulator) -> None:
    """A Global API Key echoed back by the API is redacted in the deployment's error."""
    ids = emulator.state.seed(ACCOUNT, 1)
    emulator.inject(status=400, message=f"X-Auth-Key {DEFAULT_API_KEY} is not valid here")
    provider = DeviceRevocationProvider()
    config = {
        "cloudflare:apiKey": DEFAULT_API_KEY,
        "cloudflare:email": DEFAULT_EMAIL,
        "cloudflare:baseUrl": emulator.base_url,
    }
    provider.configure(ConfigureRequest(Config(config, "test")))
    news = provider.check(
        {}, {"account_id": ACCOUNT, "registration_ids": ids, "endpoint": "devices"}
    ).inputs
    with pytest.raises(DeploymentError) as caught:
        provider.create(news)
    assert DEFAULT_API_KEY not in str(caught.value)
    assert "X-Auth-Key <redacted> is not valid here" in str(caught.value)
    assert emulator.requests.all()[0].auth == "key"


def test_plain_http_to_a_remote_host_is_refused_before_sending(emulator: Emulator) -> None:
    """An http:// base URL that is not loopback fails the deployment; nothing is sent."""
    provider = DeviceRevocationProvider()
    # .invalid never resolves: even a regression could not send the token anywhere.
    config = {"cloudflare:apiToken": TOKEN, "cloudflare:baseUrl": "http://api.cloudflare.invalid"}
    provider.configure(ConfigureRequest(Config(config, "test")))
    news = provider.check({}, {"account_id": ACCOUNT, "registration_ids": ["a"]}).inputs
    with pytest.raises(DeploymentError, match="unencrypted") as caught:
        provider.create(news)
    assert TOKEN not in str(caught.value)


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate; records what it serves."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    served: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            served.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/client/v4", served
    server.shutdown()
    server.server_close()


def test_tls_verification_is_on(self_signed_server: tuple[str, list[str]]) -> None:
    """A certificate the system does not trust fails the request before any header is sent."""
    base_url, served = self_signed_server
    client = CloudflareClient(
        Settings(ApiToken(TOKEN), base_url), retry=RetryPolicy(max_attempts=1)
    )
    with pytest.raises(APIConnectionError, match="SSL") as caught:
        client.revoke_batch(ACCOUNT, ["a"])
    assert served == []
    assert TOKEN not in str(caught.value)


def test_a_netrc_entry_for_the_host_never_replaces_the_token(
    emulator: Emulator,
    make_client: ClientFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """requests applies ~/.netrc to requests without auth: the credential is auth, so a
    netrc entry for the API's host changes nothing."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password from-netrc\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    ids = emulator.state.seed(ACCOUNT, 1)
    make_client().revoke(ACCOUNT, ids)
    assert emulator.state.revoked_ids(ACCOUNT) == set(ids)
    assert [r.auth for r in emulator.requests.all()] == ["token"]
