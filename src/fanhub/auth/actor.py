"""`Actor`: the one type for who is calling, whichever front door they came through.

A partner key (Partners API), an MCP token or the local stdio server, a signed-in staff user, or the
operator at the CLI. Services take an `Actor` instead of a bare organization id so that scoping,
permission checks and the audit string are written once:

- `organization_id` scopes every read and write (another organization's ids are simply not found);
- `can(permission)` answers for scopes (keys, MCP) and roles (staff) alike;
- `audit` is the string stored in ledgers and `created_by` columns ("partner:acme", "staff:3",
  "mcp:key:7", "mcp:stdio", "cli"), rendered here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

PARTNER, MCP, STAFF, CLI = "partner", "mcp", "staff", "cli"

# Permissions a service may ask for. Staff roles imply them (viewer < marketer < admin).
READ, WRITE, ADMINISTER = "read", "write", "administer"
_ROLE_PERMISSIONS = {
    "viewer": frozenset({READ}),
    "marketer": frozenset({READ, WRITE}),
    "admin": frozenset({READ, WRITE, ADMINISTER}),
}
_SCOPE_PERMISSIONS = {
    "partners": frozenset({READ, WRITE}),
    "mcp:read": frozenset({READ}),
    "mcp:write": frozenset({WRITE}),
}


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str
    organization_id: int
    # The key id (partner, MCP over HTTP) or user id (staff); None for stdio MCP and the CLI.
    identity: int | None = None
    # The partner's name for partner keys (their records' source is "partner:<name>").
    name: str | None = None
    permissions: frozenset[str] = frozenset()
    # The organization's region for national phone numbers (None: the deployment default).
    phone_region: str | None = None

    @classmethod
    def partner(
        cls, organization_id: int, key_id: int, partner: str, scopes: frozenset[str], phone_region: str | None = None
    ) -> Actor:
        return cls(PARTNER, organization_id, key_id, partner, _from_scopes(scopes), phone_region)

    @classmethod
    def mcp(cls, organization_id: int, key_id: int | None, scopes: frozenset[str]) -> Actor:
        return cls(MCP, organization_id, key_id, None, _from_scopes(scopes))

    @classmethod
    def staff(cls, organization_id: int, user_id: int, role: str) -> Actor:
        return cls(STAFF, organization_id, user_id, None, _ROLE_PERMISSIONS.get(role, frozenset()))

    @classmethod
    def cli(cls, organization_id: int) -> Actor:
        # The operator at the CLI has the database itself; every permission follows.
        return cls(CLI, organization_id, None, None, frozenset({READ, WRITE, ADMINISTER}))

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def source(self) -> str:
        """The `source` of records this caller sends (a partner's orders are "partner:<name>")."""
        return f"partner:{self.name}" if self.kind == PARTNER else self.audit

    @property
    def audit(self) -> str:
        """Who did it, as ledgers and `created_by` columns record it."""
        if self.kind == PARTNER:
            return f"partner:{self.name}"
        if self.kind == STAFF:
            return f"staff:{self.identity}"
        if self.kind == MCP:
            return f"mcp:key:{self.identity}" if self.identity is not None else "mcp:stdio"
        return CLI


def _from_scopes(scopes: frozenset[str]) -> frozenset[str]:
    granted: set[str] = set()
    for scope in scopes:
        granted |= _SCOPE_PERMISSIONS.get(scope, frozenset())
    return frozenset(granted)
