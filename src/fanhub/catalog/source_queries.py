"""Where the catalog's records came from: their `source` values, and a platform's name standing for them.

A source names who said it (`partner:acme`, `eventbrite:3`, `import:ab12`, see `ingest/records.py`).
People think in platforms, so a bare platform name (`eventbrite`) stands for every source of that
platform (`eventbrite:1`, `eventbrite:3`); a full source stands for itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from fanhub.catalog.models import Event, Order


def record_sources(session: Session, organization_id: int) -> list[str]:
    """Every source the organization's events and orders came from, sorted."""
    events = select(Event.source).where(Event.organization_id == organization_id).distinct()
    orders = select(Order.source).where(Order.organization_id == organization_id).distinct()
    return sorted({str(source) for source in session.scalars(union(events, orders))})


def matching_sources(wanted: str, known: Iterable[str]) -> list[str]:
    """The known sources `wanted` stands for: itself, or every `<platform>:...` for a bare platform name."""
    text = wanted.strip()
    if ":" in text:
        return [text] if text in set(known) else []
    return sorted({source for source in known if source.split(":", 1)[0] == text})
