"""`fanhub contact export|erase` (data-rights requests by contact id or `--email`) and `fanhub audit`."""

from __future__ import annotations

from typing import Annotated

import typer

from fanhub.clikit import JsonFlag, emit, read_session, write_session

app = typer.Typer()  # this domain's commands; fanhub.cli adds them to the root app
contact_app = typer.Typer(help="One person's data: export it or erase it.", no_args_is_help=True)
app.add_typer(contact_app, name="contact")

OrgOption = Annotated[int, typer.Option("--org", help="Organization id.")]
ContactArgument = Annotated[int | None, typer.Argument(help="Contact id (or give --email).")]
EmailOption = Annotated[
    str | None, typer.Option("--email", help="Every contact of the organization known by this address.")
]


@contact_app.command("export")
def contact_export(
    org: OrgOption, contact_id: ContactArgument = None, email: EmailOption = None, as_json: JsonFlag = False
) -> None:
    """Everything fanhub holds about a person, as one JSON document (audited as contact.export)."""
    from fanhub.privacy.service import export_request

    with write_session(as_json) as session:
        document = export_request(session, org, "cli", contact_id=contact_id, email=email)
    # The document is for machines either way (a portable copy of the person's data): always JSON.
    emit(True, document)


@contact_app.command("erase")
def contact_erase(
    org: OrgOption, contact_id: ContactArgument = None, email: EmailOption = None, as_json: JsonFlag = False
) -> None:
    """Erase a person's personal data everywhere; figures stay, anonymous (audited as contact.erase)."""
    from fanhub.privacy.service import erase_request

    with write_session(as_json) as session:
        result = erase_request(session, org, "cli", contact_id=contact_id, email=email)
    counts = ", ".join(f"{name} {count}" for name, count in result["erased"].items() if count)
    ids = ", ".join(str(i) for i in result["contact_ids"])
    emit(as_json, result, f"Erased contact(s) {ids}: {counts or 'nothing left to erase'}")


@app.command("audit")
def audit_log(
    org: OrgOption,
    page: Annotated[int, typer.Option("--page", min=1, help="Page number (50 per page).")] = 1,
    privacy: Annotated[
        bool, typer.Option("--privacy", help="Only exports, erasures and suppression removals.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """The organization's audit log, newest first: who did what to which contact, when."""
    from fanhub.privacy.service import audit_page

    with read_session(as_json) as session:
        result = audit_page(session, org, page=page, privacy_only=privacy)
    result["entries"] = [{key: e[key] for key in ("actor", "action", "contact_id", "at")} for e in result["entries"]]
    human = "\n".join(f"{e['at']}  {e['actor']}  {e['action']}  {e['contact_id'] or ''}" for e in result["entries"])
    emit(as_json, result, human or "No audit entries.")
