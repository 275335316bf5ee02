"""Issuing, revoking and checking API keys.

Tokens are 256-bit random strings, so a plain SHA-256 is enough to store them: nobody can
brute-force a preimage of a random 256-bit secret, and a fast hash keeps per-request auth cheap.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from fanhub.auth.models import ApiKey
from fanhub.db.base import utcnow
from fanhub.errors import InvalidInput, NotFound
from fanhub.organizations.models import Organization
from fanhub.organizations.service import get_organization

PARTNERS_SCOPE = "partners"
MCP_READ_SCOPE = "mcp:read"
MCP_WRITE_SCOPE = "mcp:write"
KNOWN_SCOPES = (PARTNERS_SCOPE, MCP_READ_SCOPE, MCP_WRITE_SCOPE)
# Writing through MCP implies reading through it.
IMPLIED_SCOPES = {MCP_WRITE_SCOPE: {MCP_READ_SCOPE}}
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class KeyGrant:
    """What a live key grants: its organization, partner name and scopes. Front doors turn it into
    an `Actor` (see `auth/dependencies.py`, `mcp/endpoints.py`); only auth sees this type."""

    key_id: int
    organization_id: int
    partner: str
    scopes: frozenset[str]
    last_used_is_stale: bool = False
    # The organization's region for national phone numbers (None: the deployment default).
    phone_region: str | None = None

    @property
    def source(self) -> str:
        return f"partner:{self.partner}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(session: Session, organization_id: int, partner: str, scope: str = PARTNERS_SCOPE) -> tuple[ApiKey, str]:
    """Create a key and return it with its token; the token is never stored or shown again."""
    get_organization(session, organization_id)
    partner = partner.strip()
    if not partner:
        raise InvalidInput("partner name must not be empty")
    if scope not in KNOWN_SCOPES:
        raise InvalidInput(f"unknown scope {scope!r}; choose one of {', '.join(KNOWN_SCOPES)}")
    token = f"fh_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        organization_id=organization_id,
        partner=partner,
        scopes=scope,
        token_prefix=token[:10],
        token_hash=hash_token(token),
    )
    session.add(key)
    session.flush()
    return key, token


def revoke_key(session: Session, key_id: int, organization_id: int | None = None) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or (organization_id is not None and key.organization_id != organization_id):
        raise NotFound(f"key {key_id} not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def list_keys(session: Session, organization_id: int) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.organization_id == organization_id).order_by(ApiKey.id)))


def authenticate(session: Session, token: str | None, scope: str) -> KeyGrant | None:
    """What a live token grants when it holds holding `scope`, or None for missing, unknown, revoked or out-of-scope."""
    if not token:
        return None
    # One query per request: the key and its organization's phone region together.
    found = session.execute(
        select(ApiKey, Organization.phone_region)
        .join(Organization, Organization.id == ApiKey.organization_id)
        .where(ApiKey.token_hash == hash_token(token))
    ).first()
    if found is None or found[0].revoked_at is not None:
        return None
    key, region = found
    scopes = set(key.scopes.split())
    for held in list(scopes):
        scopes |= IMPLIED_SCOPES.get(held, set())
    if scope not in scopes:
        return None
    stale = key.last_used_at is None or utcnow() - key.last_used_at > LAST_USED_RESOLUTION
    return KeyGrant(key.id, key.organization_id, key.partner, frozenset(scopes), stale, region)


def touch_key(session: Session, key_id: int) -> None:
    """Record use; callers do it at most once a minute so auth does not turn every read into a write."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))


def key_exists_with_other_scope(session: Session, token: str | None) -> bool:
    """True when the token is a live key that merely lacks the scope (403 rather than 401 for MCP)."""
    if not token:
        return False
    key = session.scalars(select(ApiKey).where(ApiKey.token_hash == hash_token(token))).first()
    return key is not None and key.revoked_at is None
