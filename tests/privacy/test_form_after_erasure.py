"""A signup form after an erasure (the forms domain's real submit path): a form without double
opt-in is the person's own new opt-in, so it subscribes and lifts the hash; a double opt-in
request only makes "pending" (never marketed) and leaves the hash until it is confirmed."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from fanhub.audience import suppression
from fanhub.audience.models import Contact
from fanhub.campaigns import tokens
from fanhub.config import Settings
from fanhub.db.engine import Database
from fanhub.forms import abuse, service
from fanhub.forms.models import FormSubmission
from fanhub.privacy.service import erase_request
from tests.campaigns.conftest import campaign_env, smtp_server, twilio  # noqa: F401 (fixtures)
from tests.conftest import Tenant, post_and_apply
from tests.forms.conftest import MakeForm, forms_env, make_form  # noqa: F401 (fixtures)

EMAIL = "erased.fan@example.com"


def _erased_fan(client: TestClient, db: Database, tenant: Tenant) -> None:
    post_and_apply(client, db, tenant, "contact", {"contact": {"email": EMAIL}, "opt_ins": {"email": True}})
    with db.write() as session:
        erase_request(session, tenant.organization_id, "staff:1", email=EMAIL)


def _state(db: Database, org: int) -> list[str]:
    with db.read() as session:
        query = select(Contact.email_status).where(Contact.organization_id == org, Contact.email == EMAIL)
        return list(session.scalars(query))


def _listed(db: Database, org: int) -> bool:
    with db.read() as session:
        return suppression.is_suppressed(session, org, suppression.erased_key(org, EMAIL))


def _submit(db: Database, settings: Settings, form_id: int, key: str) -> None:
    data = service.Submission(email=EMAIL, stamp=abuse.render_token(form_id, None))
    info = service.RequestInfo(ip="198.51.100.23", user_agent="Mozilla/5.0", page_url="https://venue.example/")
    assert service.submit(db, settings, key, data, info)


def test_a_form_after_the_erasure_subscribes_and_lifts_the_hash(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    forms_env: Settings,  # noqa: F811
    make_form: MakeForm,  # noqa: F811
) -> None:
    org = tenant.organization_id
    _erased_fan(client, db, tenant)
    assert _listed(db, org)
    form = make_form()
    _submit(db, forms_env, form.id, form.key)
    assert _state(db, org) == ["subscribed"] and not _listed(db, org)


def test_a_double_opt_in_request_leaves_the_hash_until_confirmed(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    forms_env: Settings,  # noqa: F811
    make_form: MakeForm,  # noqa: F811
) -> None:
    org = tenant.organization_id
    _erased_fan(client, db, tenant)
    form = make_form(double_opt_in=True)
    _submit(db, forms_env, form.id, form.key)
    assert _state(db, org) == ["pending"] and _listed(db, org)
    # The person presses the button of the confirmation link: now it is their own opt-in.
    with db.read() as session:
        submission_id = session.scalars(select(FormSubmission.id).where(FormSubmission.email == EMAIL)).one()
    token = tokens.make_token(service.CONFIRM, submission_id)
    service.confirm(db, token, service.RequestInfo(ip="198.51.100.23", user_agent="Mozilla/5.0"))
    assert _state(db, org) == ["subscribed"] and not _listed(db, org)
