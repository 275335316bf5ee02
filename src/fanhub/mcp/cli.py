"""`fanhub mcp --org ORG_ID`: the MCP server over stdio, for desktop assistants configured with a command.

stdout carries the MCP protocol and nothing else; diagnostics go to stderr. `--json` is accepted as on
every fanhub command: when the server cannot start (unknown organization, bad database) it prints one
`{"error": ...}` object on stdout and exits non-zero; once serving, stdout belongs to the protocol and
nothing else is printed, on exit either.

The local operator running the command has database access anyway, so stdio gets read and write
tools (write calls are audited with no key id); `--read-only` limits it to the read tools.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Annotated

import typer

from fanhub.clikit import JsonFlag, fail

app = typer.Typer()  # this domain's commands; fanhub.cli adds them to the root app


@app.command("mcp")
def mcp_command(
    org: Annotated[int, typer.Option("--org", help="Organization id every answer is scoped to.")],
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Serve only the read tools (as an mcp:read token would).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Serve MCP over stdio for one organization (configure it as a command in your AI assistant)."""
    import anyio

    from fanhub.clikit import ensure_migrated
    from fanhub.db.engine import get_database
    from fanhub.errors import FanhubError
    from fanhub.mcp.server import build_server, stdio_actor
    from fanhub.organizations.service import get_organization

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    try:
        ensure_migrated()
        database = get_database()
        with database.read() as session:
            get_organization(session, org)
    except FanhubError as exc:
        fail(as_json, str(exc))
    except Exception as exc:  # the database is unreachable or misconfigured
        fail(as_json, f"cannot open the database: {exc}")
    # A read-only actor is not offered the write tools at all.
    server = build_server(database, actor=stdio_actor(org, read_only=read_only))
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(server.run_stdio_async)
