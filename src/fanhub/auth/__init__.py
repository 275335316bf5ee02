"""API keys: partner keys for the Partners API and MCP tokens, stored as SHA-256 hashes with scopes."""
