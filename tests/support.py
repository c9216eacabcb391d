"""Constants and helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from cloudflare_device_revocation import CloudflareClient, DeviceRevocationProvider, Settings
from cloudflare_device_revocation.emulator import DEFAULT_TOKEN, Emulator

ACCOUNT = "699d98642c564d2e855e9661899b7252"
OTHER_ACCOUNT = "0123456789abcdef0123456789abcdef"

ClientFactory = Callable[..., CloudflareClient]


class SleepRecorder:
    """Records the waits a retry policy asks for, without sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def provider_for(
    emulator: Emulator, sleeps: SleepRecorder | None = None, /, **config: str
) -> DeviceRevocationProvider:
    """A configured provider aimed at ``emulator`` whose retry waits are recorded, not slept."""
    recorder = sleeps if sleeps is not None else SleepRecorder()

    def client_factory(settings: Settings) -> CloudflareClient:
        return CloudflareClient(settings, retry=replace(settings.retry_policy(), sleep=recorder))

    provider = DeviceRevocationProvider(client_factory=client_factory)
    stack_config = {
        "cloudflare:apiToken": DEFAULT_TOKEN,
        "cloudflare:baseUrl": emulator.base_url,
        **config,
    }
    provider.configure(ConfigureRequest(Config(stack_config, "test")))
    return provider
