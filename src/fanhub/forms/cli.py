"""`fanhub form create` and `fanhub forms`: signup forms from the command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fanhub.clikit import JsonFlag, emit, fail, read_session, write_session

app = typer.Typer()  # this domain's commands; fanhub.cli adds them to the root app
form_app = typer.Typer(help="Signup forms (hosted pages and embeddable HTML).", no_args_is_help=True)
app.add_typer(form_app, name="form")

OrgOption = Annotated[int, typer.Option("--org", help="Organization id.")]


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _view(form: Any, counts: dict[str, int] | None = None) -> dict[str, Any]:
    from fanhub.config import get_settings
    from fanhub.forms.pages import embed_html
    from fanhub.forms.service import form_url

    settings = get_settings()
    view = {
        "id": form.id,
        "name": form.name,
        "url": form_url(settings, form),
        "embed_html": embed_html(settings, form),
        "fields": form.fields,
        "lists": form.list_ids,
        "tags": form.tags,
        "genres": form.genres,
        "event_id": form.event_id,
        "double_opt_in": form.double_opt_in,
        "consent_text": form.consent_text,
        "sms_consent_text": form.sms_consent_text,
        "created_at": form.created_at.isoformat(),
    }
    if counts is not None:
        view["submissions"] = counts
    return view


@form_app.command("create")
def form_create(
    org: OrgOption,
    name: Annotated[str, typer.Option("--name", help="What staff call the form (shown as the page title).")],
    lists: Annotated[str | None, typer.Option("--lists", help="List ids to join, comma-separated.")] = None,
    tags: Annotated[str | None, typer.Option("--tags", help="Tags to add, comma-separated (created if new).")] = None,
    genres: Annotated[str | None, typer.Option("--genres", help="Genres to add, comma-separated.")] = None,
    event: Annotated[int | None, typer.Option("--event", help="Event id: a notify-me / pre-sale form.")] = None,
    fields: Annotated[
        str, typer.Option("--fields", help="Inputs, comma-separated: email,phone,first_name,last_name,birthday.")
    ] = "email",
    double_opt_in: Annotated[bool, typer.Option("--double-opt-in", help="Ask for an email confirmation.")] = False,
    consent_text: Annotated[str | None, typer.Option("--consent-text", help="The consent wording shown.")] = None,
    sms_consent_text: Annotated[
        str | None, typer.Option("--sms-consent-text", help="The wording of the SMS box (forms with a phone).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a signup form; prints its id, hosted URL and embeddable HTML."""
    from fanhub.forms.service import FormSpec, create_form

    try:
        list_ids = [int(v) for v in _split(lists)]
    except ValueError:
        fail(as_json, "lists: give list ids as numbers, comma-separated")
    spec = FormSpec(
        name=name,
        fields=_split(fields),
        list_ids=list_ids,
        tags=_split(tags),
        genres=_split(genres),
        event_id=event,
        double_opt_in=double_opt_in,
        consent_text=consent_text,
        sms_consent_text=sms_consent_text,
    )
    with write_session(as_json) as session:
        form = create_form(session, org, spec, created_by="cli")
        view = _view(form)
    payload = {"id": view["id"], "url": view["url"], "embed_html": view["embed_html"]}
    emit(as_json, payload, f"Form {view['id']} created: {view['url']}\n\nEmbed:\n{view['embed_html']}")


@app.command("forms")
def forms_list(org: OrgOption, as_json: JsonFlag = False) -> None:
    """The organization's signup forms, newest first, with their submissions by state."""
    from fanhub.forms.service import list_forms

    with read_session(as_json) as session:
        rows = [_view(form, counts) for form, counts in list_forms(session, org)]
    human = "\n".join(f"{r['id']}  {r['name']}  {r['url']}  {r['submissions']}" for r in rows)
    emit(as_json, {"forms": rows}, human or "No forms yet.")
