"""Reactions that cross layers upward, connected once per process by the front doors that start it.

Ingest (core) applies orders; campaigns (a feature above it) attributes them to the message that
led to the sale. Ingest cannot import campaigns, so the app, the worker and the CLI call
`connect_domains()` at start, and ingest calls whatever was connected inside its apply transaction.
"""

from __future__ import annotations


def connect_domains() -> None:
    """Connect every cross-layer reaction (idempotent)."""
    from fanhub.campaigns.attribution import attribute_orders
    from fanhub.ingest.apply import on_orders_changed

    on_orders_changed(attribute_orders)
