"""Authentication: partner API keys and MCP tokens (SHA-256 hashed, scoped), manager users and sessions."""
