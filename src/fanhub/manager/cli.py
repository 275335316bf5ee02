"""`fanhub user create`: staff accounts for the web manager."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from fanhub.clikit import JsonFlag, emit, fail, write_session

app = typer.Typer()  # this domain's commands; fanhub.cli adds them to the root app

user_app = typer.Typer(help="Web manager users.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("create")
def user_create(
    org: Annotated[int, typer.Option("--org", help="Organization id.")],
    email: Annotated[str, typer.Option("--email", help="The user's email (their sign-in name).")],
    role: Annotated[str, typer.Option("--role", help="admin, marketer or viewer.")] = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (else one is generated).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a user (or add an existing one to another organization) with a role."""
    from fanhub.auth.users import create_user

    password: str | None = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail(as_json, "no password on standard input")
    with write_session(as_json) as session:
        user, generated = create_user(session, org, email, role, password)
        result: dict[str, object] = {"id": user.id, "email": user.email, "organization_id": org, "role": role}
        if generated:
            result["password"] = generated
    human = f"User {result['id']} {result['email']} is {role} of organization {org}."
    if generated:
        human += f"\nGenerated password (shown once): {generated}"
    emit(as_json, result, human)
