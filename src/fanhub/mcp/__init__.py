"""The MCP server: the hub's events, buyers, audience and campaigns for AI assistants (issue 7)."""
