"""Reactions that cross layers upward, connected once per process by the front doors that start it.

- Ingest (core) applies orders; campaigns (a feature above it) attributes them to the message that
  led to the sale. Ingest cannot import campaigns, so ingest calls whatever was connected inside
  its apply transaction.
- The sending pipe (campaigns) records SMTP-time rejections; deliverability (above campaigns)
  classifies them and suppresses the address (`campaigns.sending.pipe.on_failures`).
- Automations (flows) enroll contacts when orders arrive (`ingest.apply.on_orders_changed`) and
  when tags or lists are added, by the audience writer or by staff and assistants
  (`audience.service.on_labels_added`, announced by `audience.service.labels_added`).
- An erasure's redaction job (privacy) also walks the MCP call log (mcp, a front door above it):
  `privacy.stores.register`.

The app, the worker and the CLI call `connect_domains()` at start.
"""

from __future__ import annotations


def connect_domains() -> None:
    """Connect every cross-layer reaction (idempotent)."""
    from fanhub.audience.service import on_labels_added
    from fanhub.campaigns.attribution import attribute_orders
    from fanhub.campaigns.sending.pipe import on_failures
    from fanhub.deliverability.apply import apply_smtp_failures
    from fanhub.flows.triggers import on_labels, on_orders
    from fanhub.ingest.apply import on_orders_changed
    from fanhub.mcp.models import McpAuditEntry
    from fanhub.privacy import stores

    on_orders_changed(attribute_orders)
    on_orders_changed(on_orders)
    on_labels_added(on_labels)
    stores.register("mcp_calls", stores.json_store(McpAuditEntry, ("arguments", "result"), ("error",)))
    if apply_smtp_failures not in on_failures:
        on_failures.append(apply_smtp_failures)
