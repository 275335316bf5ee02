"""HTML of the signup forms: the hosted page (`/f/<key>`), its thank-you and confirmation pages,
and `embed_html`, the plain `<form>` a venue pastes into its own site. No script, no CDN, no
third-party resource: every page works without JavaScript and at phone width (inline styles)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader

from fanhub.config import Settings
from fanhub.forms import abuse
from fanhub.forms.models import Form
from fanhub.forms.service import form_url

_templates = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def embed_html(settings: Settings, form: Form) -> str:
    """The form as static HTML for another site: it posts cross-origin (form-encoded, so no CORS
    preflight) and gets a 303 to the hosted thank-you page. Its stamp is the "embedded" one."""
    return (
        _templates.get_template("form_embed.html")
        .render(
            form=form,
            action=form_url(settings, form),
            stamp=abuse.render_token(form.id, None),
            honeypot=abuse.HONEYPOT,
            values={},
        )
        .strip()
    )


def form_page(
    settings: Settings,
    form: Form,
    organization: str,
    now: datetime,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    stamp: str | None = None,
) -> str:
    """The hosted form; re-shown after a refused field with the first render's `stamp`, so the
    time the person already spent counts toward the minimum fill time."""
    return _templates.get_template("form_page.html").render(
        page="form",
        title=form.name,
        organization=organization,
        form=form,
        # Relative: the hosted page posts to the host that served it, whatever FANHUB_PUBLIC_URL says.
        action=f"/f/{form.key}",
        stamp=stamp or abuse.render_token(form.id, now),
        honeypot=abuse.HONEYPOT,
        values=values or {},
        error=error,
    )


def message_page(title: str, organization: str, message: str, *, ok: bool = True) -> str:
    return _templates.get_template("form_page.html").render(
        page="message", title=title, organization=organization, message=message, ok=ok
    )


def confirm_page(title: str, organization: str, message: str, action: str) -> str:
    return _templates.get_template("form_page.html").render(
        page="confirm", title=title, organization=organization, message=message, action=action, ok=False
    )
