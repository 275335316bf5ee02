"""Concurrent form submissions share write transactions (group commit): each is stored once with its
own person, consent and proof; a group may mix forms; one bad submission fails only its own request."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from fanhub.audience.models import AudienceList, ConsentEvent, Contact, ContactList
from fanhub.config import Settings
from fanhub.db.engine import Database
from fanhub.forms import abuse, service
from fanhub.forms.models import FormSubmission
from tests.conftest import Tenant
from tests.forms.conftest import MakeForm


def _submit_concurrently(
    db: Database, settings: Settings, posts: list[tuple[str, int, str]]
) -> dict[str, BaseException | None]:
    """Post (form key, form id, email) all at once from one thread each; {email: error or None}."""
    outcome: dict[str, BaseException | None] = {}
    start = threading.Barrier(len(posts))

    def post(key: str, form_id: int, email: str) -> None:
        data = service.Submission(email=email, stamp=abuse.render_token(form_id, None))
        # One client each (the per-IP limit is not what is tested here).
        info = service.RequestInfo(
            ip=f"10.0.0.{posts.index((key, form_id, email))}",
            user_agent=f"agent of {email}",
            page_url="https://venue.example/",
        )
        start.wait()
        try:
            assert service.submit(db, settings, key, data, info)
            outcome[email] = None
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            outcome[email] = exc

    threads = [threading.Thread(target=post, args=args) for args in posts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcome


def _slow_first_group(monkeypatch: pytest.MonkeyPatch, fail_on: str | None = None) -> list[int]:
    """Make the first stored group take a while (so the others queue behind it) and, with `fail_on`,
    make any batch holding that address fail as a database refusal would; returns the batch sizes."""
    real: Callable[..., Any] = service._store_many
    sizes: list[int] = []

    def store_many(session: Any, form: Any, items: list[Any]) -> None:
        sizes.append(len(items))
        if len(sizes) == 1:
            time.sleep(0.3)
        if fail_on is not None and any(person.email == fail_on for person, *_ in items):
            raise RuntimeError(f"refused {fail_on}")
        real(session, form, items)

    monkeypatch.setattr(service, "_store_many", store_many)
    return sizes


def test_concurrent_submissions_share_transactions_and_keep_their_own_rows(
    db: Database, tenant: Tenant, forms_env: Settings, make_form: MakeForm, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = make_form(double_opt_in=True)
    sizes = _slow_first_group(monkeypatch)
    emails = [f"fan{n}@fans.net" for n in range(16)]
    outcome = _submit_concurrently(db, forms_env, [(form.key, form.id, e) for e in emails])
    assert outcome == {e: None for e in emails}
    assert sum(sizes) == 16
    assert len(sizes) < 16  # some submissions were stored together
    with db.read() as session:
        stored = session.execute(select(FormSubmission.email, FormSubmission.contact_id, FormSubmission.user_agent))
        submissions = {email: (contact_id, agent) for email, contact_id, agent in stored}
        contacts = dict(session.execute(select(Contact.email, Contact.id)).all())
        statuses = dict(session.execute(select(Contact.email, Contact.email_status)).all())
        ledger = session.execute(select(ConsentEvent.contact_id, ConsentEvent.status, ConsentEvent.user_agent)).all()
    assert set(submissions) == set(emails)
    for email in emails:  # each row points at its own contact and carries its own proof
        assert submissions[email] == (contacts[email], f"agent of {email}")
        assert statuses[email] == "pending"
    assert sorted(ledger) == sorted((contacts[e], "pending", f"agent of {e}") for e in emails)


def test_a_group_may_mix_forms_each_stored_by_its_own_rules(
    db: Database, tenant: Tenant, forms_env: Settings, make_form: MakeForm, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.write() as session:
        news = AudienceList(organization_id=tenant.organization_id, name="News")
        session.add(news)
        session.flush()
        list_id = news.id
    double = make_form(double_opt_in=True)
    single = make_form(name="Walk-ins", list_ids=[list_id])
    sizes = _slow_first_group(monkeypatch)
    posts = [(double.key, double.id, f"d{n}@fans.net") for n in range(4)]
    posts += [(single.key, single.id, f"s{n}@fans.net") for n in range(4)]
    assert set(_submit_concurrently(db, forms_env, posts).values()) == {None}
    assert sum(sizes) == 8
    with db.read() as session:
        statuses = dict(session.execute(select(Contact.email, Contact.email_status)).all())
        members = set(
            session.scalars(
                select(Contact.email)
                .join(ContactList, ContactList.contact_id == Contact.id)
                .where(ContactList.list_id == list_id)
            )
        )
    assert statuses == {
        **{f"d{n}@fans.net": "pending" for n in range(4)},
        **{f"s{n}@fans.net": "subscribed" for n in range(4)},
    }
    assert members == {f"s{n}@fans.net" for n in range(4)}  # the double opt-in ones join on confirming only


def test_one_refused_submission_fails_alone_and_the_rest_of_its_group_is_stored_once(
    db: Database, tenant: Tenant, forms_env: Settings, make_form: MakeForm, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = make_form(double_opt_in=True)
    _slow_first_group(monkeypatch, fail_on="bad@fans.net")
    emails = ["first@fans.net", *(f"fan{n}@fans.net" for n in range(6)), "bad@fans.net"]
    outcome = _submit_concurrently(db, forms_env, [(form.key, form.id, e) for e in emails])
    assert str(outcome.pop("bad@fans.net")) == "refused bad@fans.net"
    assert set(outcome.values()) == {None}
    with db.read() as session:
        stored = list(session.scalars(select(FormSubmission.email)))
        ledger_emails = list(
            session.scalars(select(Contact.email).join(ConsentEvent, ConsentEvent.contact_id == Contact.id))
        )
        bad = session.scalar(select(Contact.id).where(Contact.email == "bad@fans.net"))
    assert sorted(stored) == sorted(outcome)  # each good one once, the bad one not at all
    assert sorted(ledger_emails) == sorted(outcome)
    assert bad is None
