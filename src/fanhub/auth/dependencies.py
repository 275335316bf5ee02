"""FastAPI dependencies that turn request headers into a Principal (or a 403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader

from fanhub.auth.service import PARTNERS_SCOPE, Principal, authenticate, touch_key
from fanhub.db.engine import Database

partner_key_header = APIKeyHeader(
    name="Cymbal-Partner-API-Key", auto_error=False, description="The organization's partner API key."
)


def get_db(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def partner_principal(
    token: Annotated[str | None, Depends(partner_key_header)], database: Annotated[Database, Depends(get_db)]
) -> Principal:
    with database.read() as session:
        principal = authenticate(session, token, PARTNERS_SCOPE)
    if principal is None:
        message = "missing Cymbal-Partner-API-Key header" if not token else "invalid or revoked API key"
        raise HTTPException(status_code=403, detail=message)
    if principal.last_used_is_stale:
        with database.write() as session:
            touch_key(session, principal.key_id)
    return principal


PartnerPrincipal = Annotated[Principal, Depends(partner_principal)]
DB = Annotated[Database, Depends(get_db)]
