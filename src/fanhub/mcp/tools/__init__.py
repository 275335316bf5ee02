"""The MCP tools, one module per area; each tool is a plain function marked `@read_tool` or `@write_tool`."""

from __future__ import annotations

from types import ModuleType

from fanhub.mcp.tools import campaigns, contacts, events, flows, lookups, sales, suppressions, writes

# In the order they are listed to clients.
TOOL_MODULES: tuple[ModuleType, ...] = (events, contacts, lookups, sales, campaigns, flows, suppressions, writes)
