"""Creating and finding organizations."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from fanhub.errors import NotFound
from fanhub.organizations.models import Organization


def create_organization(session: Session, name: str) -> Organization:
    name = name.strip()
    if not name:
        raise ValueError("organization name must not be empty")
    organization = Organization(name=name)
    session.add(organization)
    session.flush()
    return organization


def get_organization(session: Session, organization_id: int) -> Organization:
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound(f"organization {organization_id} not found")
    return organization


def count_organizations(session: Session) -> int:
    return len(session.scalars(select(Organization.id).limit(1)).all())
