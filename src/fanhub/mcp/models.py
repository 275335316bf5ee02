"""The audit log of MCP write tools: who (which key, or the local stdio operator) did what, when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fanhub.db.base import Base, BigId, utcnow


class McpAuditEntry(Base):
    """One call of a write tool; `key_id` is the token's key, NULL for `fanhub mcp` over stdio."""

    __tablename__ = "mcp_audit_log"
    __table_args__ = (Index("ix_mcp_audit_log_org_id", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), default=None, index=True)
    # "http" (a bearer token) or "stdio" (`fanhub mcp --org N`, the local operator).
    transport: Mapped[str] = mapped_column(String(16))
    tool: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # "ok" or "error"
    outcome: Mapped[str] = mapped_column(String(16))
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
