"""The confirmation sender's batch statements: one claim for a batch (each row at most once) and the
outcomes of a batch written per row, never over a row that is no longer being sent."""

from __future__ import annotations

from sqlalchemy import select, update

from fanhub.config import Settings
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.forms import abuse, confirmations, service
from fanhub.forms.models import FAILED, QUEUED, SENDING, SENT, UNKNOWN, FormSubmission
from tests.conftest import Tenant
from tests.forms.conftest import MakeForm


def _queue(db: Database, settings: Settings, key: str, form_id: int, count: int) -> list[int]:
    for n in range(count):
        data = service.Submission(email=f"fan{n}@fans.net", stamp=abuse.render_token(form_id, None))
        assert service.submit(db, settings, key, data, service.RequestInfo(ip=f"10.1.0.{n}"))
    with db.read() as session:
        return list(session.scalars(select(FormSubmission.id).order_by(FormSubmission.id)))


def test_a_batch_is_claimed_once_in_id_order_and_up_to_the_limit(
    db: Database, tenant: Tenant, forms_env: Settings, make_form: MakeForm
) -> None:
    form = make_form(double_opt_in=True)
    ids = _queue(db, forms_env, form.key, form.id, 5)
    now = utcnow()
    assert confirmations._claim(db, "email_send_state", now, 3) == ids[:3]
    assert confirmations._claim(db, "email_send_state", now, 3) == ids[3:]
    assert confirmations._claim(db, "email_send_state", now, 3) == []
    with db.read() as session:
        rows = session.execute(select(FormSubmission.email_send_state, FormSubmission.email_sent_at)).all()
    assert [state for state, _ in rows] == [SENDING] * 5
    assert all(at is not None for _, at in rows)


def test_outcomes_are_written_per_row_and_skip_rows_no_longer_sending(
    db: Database, tenant: Tenant, forms_env: Settings, make_form: MakeForm
) -> None:
    form = make_form(double_opt_in=True)
    ids = _queue(db, forms_env, form.key, form.id, 4)
    now = utcnow()
    assert confirmations._claim(db, "email_send_state", now, 10) == ids
    with db.write() as session:  # the crash recovery got to the last one first
        session.execute(update(FormSubmission).where(FormSubmission.id == ids[3]).values(email_send_state=UNKNOWN))
    outcomes: list[tuple[int, str, dict[str, object]]] = [
        (ids[0], SENT, {"email_sent_at": now, "email_message_id": "<a@x>"}),
        (ids[1], FAILED, {}),
        (ids[2], SENT, {"email_sent_at": now, "email_message_id": "<c@x>"}),
        (ids[3], SENT, {"email_sent_at": now, "email_message_id": "<d@x>"}),
    ]
    confirmations._finish_all(db, "email_send_state", outcomes)
    with db.read() as session:
        rows = session.execute(
            select(FormSubmission.email_send_state, FormSubmission.email_message_id).order_by(FormSubmission.id)
        ).all()
    assert [tuple(r) for r in rows] == [(SENT, "<a@x>"), (FAILED, None), (SENT, "<c@x>"), (UNKNOWN, None)]
    assert QUEUED not in {state for state, _ in rows}
