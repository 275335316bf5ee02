"""Fixtures of the signup form tests: the campaign settings (local SMTP server, fake Twilio) with
the minimum fill time off unless a test sets it, fresh rate-limit windows, and a form factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fanhub.config import Settings, get_settings
from fanhub.db.engine import Database
from fanhub.forms import abuse
from fanhub.forms.models import Form
from fanhub.forms.service import FormSpec, create_form
from tests.campaigns.conftest import campaign_env, smtp_server, twilio  # noqa: F401
from tests.conftest import Tenant
from tests.manager.conftest import staff  # noqa: F401

MakeForm = Callable[..., Form]


@pytest.fixture
def forms_env(monkeypatch: pytest.MonkeyPatch, campaign_env: Settings) -> Iterator[Settings]:  # noqa: F811
    monkeypatch.setenv("FANHUB_FORM_MIN_FILL_SECONDS", "0")
    get_settings.cache_clear()
    abuse.limits.reset()
    yield get_settings()
    abuse.limits.reset()
    get_settings.cache_clear()


@pytest.fixture
def make_form(db: Database, tenant: Tenant) -> MakeForm:
    def make(organization_id: int | None = None, **spec: Any) -> Form:
        spec.setdefault("name", "Newsletter")
        with db.write() as session:
            form = create_form(session, organization_id or tenant.organization_id, FormSpec(**spec), "test")
            session.expunge(form)
        return form

    return make
