"""What every MCP tool shares: argument types, the `@read_tool` / `@write_tool` marks, and the audit.

A tool is a plain module-level function. A read tool takes `(session, actor, **arguments)`; a write
tool takes `(call, **arguments)` where `call` is a `WriteCall` (the database, the actor and the
tool's name, for the audited transaction). Both can be imported and called directly in tests.

The decorators only mark a function (`spec_of`); `fanhub.mcp.server` registers the marked functions
and wraps each one in what the mark asks for: who is calling (from the request, or the stdio actor),
the scope check (`mcp:read` / `mcp:write`), a read session for read tools, and domain errors turned
into tool errors the model can read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field
from sqlalchemy.orm import Session

from fanhub.auth.actor import READ, WRITE, Actor
from fanhub.db.engine import Database
from fanhub.errors import FanhubError
from fanhub.mcp.models import McpAuditEntry
from fanhub.pagination import PageRequest

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
F = TypeVar("F", bound=Callable[..., Any])

Page = Annotated[int, Field(ge=1, le=100_000, description="Page number, from 1.")]
PageSize = Annotated[
    int, Field(ge=1, le=MAX_PAGE_SIZE, description=f"Items per page, 1-{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}).")
]
EventId = Annotated[int, Field(ge=1, description="fanhub event id (from list_events).")]
ContactId = Annotated[int, Field(ge=1, description="fanhub contact id (from search_contacts or list_attendees).")]
CampaignId = Annotated[int, Field(ge=1, description="fanhub campaign id (from list_campaigns).")]
ContactIds = Annotated[
    list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=500, description="1-500 contact ids.")
]
TagName = Annotated[str, Field(min_length=1, max_length=200, description="An existing tag's name.")]

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)


@dataclass(frozen=True)
class ToolSpec:
    """How a tool function is served: its MCP name, annotations and whether it reads or writes."""

    name: str
    kind: Literal["read", "write"]
    annotations: ToolAnnotations


_SPEC = "__fanhub_mcp_tool__"


def read_tool(annotations: ToolAnnotations = READ_ONLY) -> Callable[[F], F]:
    """Mark `fn(session, actor, **arguments)` as a read tool (needs mcp:read; runs in a read session)."""

    def mark(fn: F) -> F:
        setattr(fn, _SPEC, ToolSpec(fn.__name__, "read", annotations))
        return fn

    return mark


def write_tool(annotations: ToolAnnotations) -> Callable[[F], F]:
    """Mark `fn(call, **arguments)` as a write tool (needs mcp:write; audited through `call`)."""

    def mark(fn: F) -> F:
        setattr(fn, _SPEC, ToolSpec(fn.__name__, "write", annotations))
        return fn

    return mark


def spec_of(fn: object) -> ToolSpec | None:
    spec = getattr(fn, _SPEC, None)
    return spec if isinstance(spec, ToolSpec) else None


def check_scope(actor: Actor, spec: ToolSpec) -> None:
    """Refuse a call the actor's token does not allow, saying which scope it needs."""
    if spec.kind == "write" and not actor.can(WRITE):
        raise ToolError(
            f"{spec.name} changes data and needs a token with the mcp:write scope; this token has only mcp:read "
            "(create one with: fanhub key create --org ORG_ID --partner NAME --scope mcp:write)"
        )
    if spec.kind == "read" and not actor.can(READ):
        raise ToolError(f"{spec.name} needs a token with the mcp:read scope")


def bad(argument: str, message: str) -> ToolError:
    return ToolError(f"invalid argument {argument!r}: {message}")


def page_request(page: int, page_size: int) -> PageRequest:
    return PageRequest(page, page_size)


@dataclass(frozen=True)
class WriteCall:
    """One call of a write tool: where it writes, who makes it, and the name its audit entries carry."""

    database: Database
    actor: Actor
    tool: str

    @contextmanager
    def audited(self, arguments: dict[str, Any]) -> Iterator[tuple[Session, dict[str, Any]]]:
        """A write transaction that also records the call (the tool fills `result`); a failure is
        recorded in its own transaction, since the failed one rolls back."""
        result: dict[str, Any] = {}
        try:
            with self.database.write() as session:
                yield session, result
                session.add(self._entry(arguments, "ok", result, None))
        except Exception as exc:
            self.record(arguments, "error", {}, exc)
            raise

    def record(self, arguments: dict[str, Any], outcome: str, result: dict[str, Any], exc: Exception | None) -> None:
        """Audit one call in its own transaction (for tools whose work commits on its own)."""
        message = None
        if exc is not None:
            message = (str(exc) if isinstance(exc, FanhubError | ToolError) else type(exc).__name__)[:2000]
        with self.database.write() as session:
            session.add(self._entry(arguments, outcome, result, message))

    def _entry(
        self, arguments: dict[str, Any], outcome: str, result: dict[str, Any], error: str | None
    ) -> McpAuditEntry:
        return McpAuditEntry(
            organization_id=self.actor.organization_id,
            key_id=self.actor.identity,
            # MCP keys come only over HTTP; the keyless actor is the local `fanhub mcp` operator.
            transport="http" if self.actor.identity is not None else "stdio",
            tool=self.tool,
            arguments=json.loads(json.dumps(arguments, default=str)),
            outcome=outcome,
            result=json.loads(json.dumps(result, default=str)),
            error=error,
        )
