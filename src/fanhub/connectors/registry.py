"""The ticketing platforms fanhub connects to: one line each.

Everything platform-specific is in the connector class a line names (see `connector.Connector`);
the CLI's `connect` commands, the manager's connect form, the webhook receiver and the sync are
derived from this table. The first platform is the one the connect form shows first.
"""

from __future__ import annotations

from fanhub.connectors.connector import Connector
from fanhub.connectors.eventbrite import EventbriteConnector
from fanhub.connectors.ticketor import TicketorConnector
from fanhub.connectors.tickettailor import TicketTailorConnector
from fanhub.errors import NotFound

PLATFORMS: dict[str, type[Connector]] = {
    TicketTailorConnector.platform: TicketTailorConnector,
    EventbriteConnector.platform: EventbriteConnector,
    TicketorConnector.platform: TicketorConnector,
}


def connector_class(platform: str) -> type[Connector]:
    """The connector of `platform`, or NotFound for a platform fanhub does not know."""
    found = PLATFORMS.get(platform)
    if found is None:
        raise NotFound(f"unknown platform {platform!r}")
    return found
