"""FastAPI dependencies that turn request headers into the caller's `Actor` (or a 403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader

from fanhub.auth.actor import Actor
from fanhub.auth.service import PARTNERS_SCOPE, authenticate, touch_key
from fanhub.db.engine import Database

partner_key_header = APIKeyHeader(
    name="Cymbal-Partner-API-Key", auto_error=False, description="The organization's partner API key."
)


def get_db(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def partner_actor(
    token: Annotated[str | None, Depends(partner_key_header)], database: Annotated[Database, Depends(get_db)]
) -> Actor:
    with database.read() as session:
        grant = authenticate(session, token, PARTNERS_SCOPE)
    if grant is None:
        message = "missing Cymbal-Partner-API-Key header" if not token else "invalid or revoked API key"
        raise HTTPException(status_code=403, detail=message)
    if grant.last_used_is_stale:
        with database.write() as session:
            touch_key(session, grant.key_id)
    return Actor.partner(grant.organization_id, grant.key_id, grant.partner, grant.scopes, grant.phone_region)


PartnerActor = Annotated[Actor, Depends(partner_actor)]
DB = Annotated[Database, Depends(get_db)]
