"""Organizations: the tenant boundary. Every row of every domain belongs to exactly one."""
