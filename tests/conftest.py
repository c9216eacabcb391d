"""Shared fixtures: a real emulator on 127.0.0.1 and clients that talk to it over HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cloudflare_device_revocation import CloudflareClient, RetryPolicy, Settings
from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator
from cloudflare_device_revocation.settings import ApiToken, Credentials
from pulumi_cli import CliNotFoundError, locate_cli
from support import ACCOUNT, OTHER_ACCOUNT, ClientFactory, SleepRecorder


@pytest.fixture(scope="session")
def cli_bin() -> str:
    """The bin dir of the real Pulumi CLI (skips, or fails under CI, when there is none)."""
    try:
        return locate_cli()
    except CliNotFoundError as missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the end-to-end tests, but {missing}")
        pytest.skip(str(missing))


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh emulator with two empty accounts, stopped after the test."""
    with Emulator() as emu:
        emu.state.account(ACCOUNT)
        emu.state.account(OTHER_ACCOUNT)
        yield emu


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_client(emulator: Emulator, sleeps: SleepRecorder) -> Iterator[ClientFactory]:
    """Build clients aimed at the emulator; waits are recorded, never slept."""
    made: list[CloudflareClient] = []

    def make(
        credentials: Credentials | None = None,
        *,
        max_attempts: int = 5,
        total_timeout: float = 120.0,
        timeout: tuple[float, float] = (5.0, 5.0),
    ) -> CloudflareClient:
        settings = Settings(credentials or ApiToken(DEFAULT_TOKEN), emulator.base_url)
        policy = RetryPolicy(max_attempts=max_attempts, total_timeout=total_timeout, sleep=sleeps)
        client = CloudflareClient(settings, retry=policy, timeout=timeout)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> CloudflareClient:
    return make_client()
