"""fanhub's MCP server (official `mcp` SDK 2.x, `MCPServer`): assembly of the tools and resources.

Everything is scoped to one organization: the `--org` of `fanhub mcp` (stdio), or the organization of
the bearer token on `/mcp` (Streamable HTTP; see `fanhub.mcp.endpoints`, which puts the `Actor` into
the request scope). Read tools need `mcp:read`, write tools `mcp:write`; every write tool call is
recorded in `mcp_audit_log` with the key that made it. No tool sends a campaign or changes consent.

The tools themselves are plain functions in `fanhub.mcp.tools.*` (marked `@read_tool` / `@write_tool`);
this module serves each one: it finds who is calling, checks the scope, opens the read session (or
hands a write tool its audited `WriteCall`), and turns domain errors into tool errors (`is_error`
results with a message naming the argument), never a crash. Tools are synchronous; the SDK runs
them on a worker thread.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, get_origin

from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ListToolsResult

from fanhub import __version__
from fanhub.auth.actor import WRITE, Actor
from fanhub.auth.service import MCP_READ_SCOPE, MCP_WRITE_SCOPE
from fanhub.db.engine import Database
from fanhub.errors import FanhubError, InvalidInput
from fanhub.mcp import resources
from fanhub.mcp.tooling import FanhubTool, compact_result, error_result
from fanhub.mcp.tools import TOOL_MODULES
from fanhub.mcp.tools.base import ToolSpec, WriteCall, check_scope, spec_of

ACTOR_SCOPE_KEY = "fanhub.mcp.actor"

INSTRUCTIONS = """\
fanhub is a venue's audience hub: events, ticket orders and contacts from every ticketing platform
(Partners API, Eventbrite, Ticket Tailor, Ticketor, imports) in one model, for one organization.
Start with list_events or search_contacts to find ids, then get_event_details, list_attendees,
sales_report or get_contact; list_orders, list_tags, list_lists and list_connections look up the
other ids. A source is e.g. eventbrite:3 or a platform's name (eventbrite). Lists are paged
(page_size at most 100); follow paging.next_page. Each result is structured content with a short
text summary; an unknown name or id is an error naming the argument.
Money is in major units with its currency code. Write tools (create_campaign_draft, tag_contacts,
untag_contacts, sync_connection) need an mcp:write token and are audited; nothing here sends a
campaign or changes anyone's consent.
"""

CurrentActor = Callable[[Context | None], Actor]
RESOURCES = (
    ("fanhub://events/{id}", "event", "application/json", resources.event_resource),
    ("fanhub://events/{id}/attendees.csv", "event_attendees_csv", "text/csv", resources.event_attendees_csv),
    ("fanhub://contacts/{id}", "contact", "application/json", resources.contact_resource),
    ("fanhub://campaigns/{id}", "campaign", "application/json", resources.campaign_resource),
)


def stdio_actor(organization_id: int, *, read_only: bool = False) -> Actor:
    """The local operator of `fanhub mcp --org N`: no key, read and (unless read_only) write."""
    scopes = {MCP_READ_SCOPE} if read_only else {MCP_READ_SCOPE, MCP_WRITE_SCOPE}
    return Actor.mcp(organization_id, None, frozenset(scopes))


def tool_functions() -> list[tuple[ToolSpec, Callable[..., Any]]]:
    """Every marked tool function, in listing order (a module's own tools only, not those it imports)."""
    found = []
    for module in TOOL_MODULES:
        for value in vars(module).values():
            spec = spec_of(value)
            if spec is not None and value.__module__ == module.__name__:
                found.append((spec, value))
    return found


def build_server(database: Database, *, actor: Actor | None = None) -> MCPServer:
    """The MCP server over `database`; `actor` fixes who calls (stdio), else each request brings one.

    A caller without write permission (an `mcp:read` token, `fanhub mcp --read-only`) is not offered
    the write tools: `tools/list` leaves them out (and calling one anyway says which scope it needs).
    """

    def current(ctx: Context | None) -> Actor:
        if actor is not None:
            return actor
        request = ctx.request_context.request if ctx is not None else None
        found = actor_of(request)
        if found is None:
            raise ToolError("not authenticated: send Authorization: Bearer <token> with an mcp:read token")
        return found

    tools: list[Tool] = [
        FanhubTool.build(_served(spec, fn, database, current), name=spec.name, annotations=spec.annotations)
        for spec, fn in tool_functions()
        if not (spec.kind == "write" and actor is not None and not actor.can(WRITE))
    ]
    writes = frozenset(spec.name for spec, _ in tool_functions() if spec.kind == "write")
    mcp: MCPServer = MCPServer(
        "fanhub",
        title="fanhub audience hub",
        description="Events, buyers, audience and campaigns of one venue organization.",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
        tools=tools,
        middleware=[ScopedToolList(writes, actor)],
    )
    for uri, name, mime_type, read in RESOURCES:
        mcp.resource(uri, name=name, mime_type=mime_type)(_resource(read, database, current))
    return mcp


def actor_of(request: Any) -> Actor | None:
    """The actor `fanhub.mcp.endpoints` put into the HTTP request's ASGI scope, if any."""
    scope = getattr(request, "scope", None)
    found = scope.get(ACTOR_SCOPE_KEY) if isinstance(scope, dict) else None
    return found if isinstance(found, Actor) else None


class ScopedToolList:
    """Middleware: `tools/list` shows a caller without write permission only the read tools."""

    def __init__(self, write_tools: frozenset[str], actor: Actor | None) -> None:
        self.write_tools = write_tools
        self.actor = actor

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method != "tools/list":
            return result
        who = self.actor or actor_of(ctx.request)
        if who is not None and who.can(WRITE):
            return result
        # The handler's result arrives as the model or already as its wire dict.
        if isinstance(result, ListToolsResult):
            return result.model_copy(update={"tools": [t for t in result.tools if t.name not in self.write_tools]})
        if isinstance(result, dict) and isinstance(result.get("tools"), list):
            return {**result, "tools": [t for t in result["tools"] if t.get("name") not in self.write_tools]}
        return result


def _served(spec: ToolSpec, fn: Callable[..., Any], database: Database, current: CurrentActor) -> Callable[..., Any]:
    """`fn` as the SDK calls it: `(ctx, **arguments)`, with the caller, scope check, session and errors.

    It returns a compact `CallToolResult` (structured content and a short summary), or an error
    result whose text is one sentence (never a traceback).
    """

    def handler(ctx: Context, **arguments: Any) -> CallToolResult:
        try:
            who = current(ctx)
            check_scope(who, spec)
            if spec.kind == "read":
                with database.read() as session:
                    output = fn(session, who, **arguments)
            else:
                output = fn(WriteCall(database, who, spec.name), **arguments)
        except ToolError as exc:
            return error_result(sentence(str(exc)))
        except InvalidInput as exc:
            return error_result(sentence(invalid_input_message(exc, spec.name)))
        except FanhubError as exc:
            return error_result(sentence(str(exc)))
        return output if isinstance(output, CallToolResult) else compact_result(output)

    # The SDK reads the tool's schema from the handler's signature: the tool's own arguments, minus
    # what the handler supplies (session and actor, or the write call), plus the context it injects.
    signature = inspect.signature(fn, eval_str=True)
    supplied = 2 if spec.kind == "read" else 1
    arguments = list(signature.parameters.values())[supplied:]
    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Context)
    returns = signature.return_annotation
    if get_origin(returns) is not Annotated:
        returns = Annotated[CallToolResult, returns]
    handler.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[context, *arguments], return_annotation=returns
    )
    handler.__annotations__ = {"ctx": Context, **{p.name: p.annotation for p in arguments}, "return": returns}
    handler.__name__ = handler.__qualname__ = spec.name
    handler.__doc__ = fn.__doc__
    handler.__module__ = fn.__module__
    return handler


def invalid_input_message(exc: InvalidInput, tool: str) -> str:
    """The domain's message, naming the tool's argument (a campaign's `audience` is the tool's `segment`)."""
    fields = [str(e["field"]) for e in exc.errors if e.get("field")]
    if len(fields) != 1 or not exc.errors[0].get("message"):
        return exc.message
    field = fields[0]
    if tool == "create_campaign_draft" and field.split(".")[0].split("[")[0] == "audience":
        field = "segment" + field[len("audience") :]
    return f"invalid argument {field!r}: {exc.errors[0]['message']}"


def sentence(message: str) -> str:
    text = " ".join(message.split())
    return text if text.endswith((".", "!", "?", ")")) else text + "."


def _resource(read: Callable[..., str], database: Database, current: CurrentActor) -> Callable[..., str]:
    """A resource function as the SDK calls it: `(id, ctx)`, read in the caller's organization."""

    def handler(id: str, ctx: Context) -> str:
        who = current(ctx)
        with database.read() as session:
            return read(session, who, id)

    handler.__name__ = handler.__qualname__ = read.__name__
    handler.__doc__ = read.__doc__
    return handler
