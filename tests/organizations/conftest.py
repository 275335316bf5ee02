"""Sending-domain fixtures: a local DNS server the checks are pointed at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fanhub.config import get_settings
from tests.fakes.dns import FakeDnsServer


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDnsServer]:
    """A fake DNS server, set as FANHUB_DNS_RESOLVER for the test (the relay: smtp.relay.example)."""
    with FakeDnsServer() as server:
        monkeypatch.setenv("FANHUB_DNS_RESOLVER", server.address)
        monkeypatch.setenv("FANHUB_SMTP_HOST", "smtp.relay.example")
        get_settings.cache_clear()
        try:
            yield server
        finally:
            get_settings.cache_clear()
