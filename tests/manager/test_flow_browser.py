"""Browser test of flows: a marketer opens Flows from the navigation, creates "Know before you go"
from its template, changes a step (the wait, then an invalid duration shown with its JSON path),
moves a step, adds one, and activates the flow after confirming.

Chromium drives `fanhub serve`'s app (see test_browser.py).
"""

from __future__ import annotations

from typing import Any

from fanhub.db.engine import Database
from fanhub.flows.models import Flow
from tests.conftest import Tenant
from tests.manager.helpers import make_user
from tests.manager.test_browser import SHOTS, browser, page, server, sign_in

__all__ = ["browser", "page", "server"]  # the fixtures, shared with test_browser.py


def _flows(db: Database, org: int) -> list[Flow]:
    from sqlalchemy import select

    with db.read() as session:
        rows = list(session.scalars(select(Flow).where(Flow.organization_id == org).order_by(Flow.id)))
        for row in rows:
            session.expunge(row)
        return rows


def test_create_from_template_edit_a_step_and_activate(server: str, page: Any, db: Database, tenant: Tenant) -> None:
    make_user(db, tenant.organization_id, "m@venue.example", "marketer")
    sign_in(page, server, "m@venue.example")
    page.click("header.top nav >> text=Flows")
    page.wait_for_selector("#no-flows")

    page.click("#new-know_before_you_go")
    page.wait_for_selector("#flow-editor")
    assert "Draft “Know before you go” created" in page.inner_text(".notice")
    assert page.inner_text("#flow-status") == "draft"
    assert page.input_value("#s1-duration") == "PT4H"

    # A wrong duration is refused, named by its JSON path beside the step, and kept in the field.
    page.fill("#s1-duration", "four hours")
    page.click("#save-flow")
    page.wait_for_selector("#flow-errors")
    assert "steps[1].duration: must be an ISO 8601 duration" in page.inner_text("#step-1 .error")
    assert page.input_value("#s1-duration") == "four hours"
    page.fill("#s1-duration", "PT2H")
    page.fill("#s0-subject", "See you tomorrow at {{ venue }}")
    page.press("#s0-subject", "Enter")  # Enter saves (never moves or removes a step)
    page.wait_for_selector("text=Flow saved.")
    assert page.input_value("#s1-duration") == "PT2H"

    # Move the tag step (the last) above the SMS, then add a wait at the end.
    page.click("#step-4 .move-up")
    page.wait_for_selector("text=Step moved up.")
    assert page.get_attribute("#step-3", "data-type") == "tag"
    page.select_option("#add-type", "wait")
    page.click("#add-step-button")
    page.wait_for_selector("#step-5")
    assert page.get_attribute("#step-5", "data-type") == "wait"

    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.click("#activate-flow")
    page.wait_for_selector("#pause-flow")
    assert dialogs and dialogs[0].startswith("Activate “Know before you go”?")
    assert page.inner_text("#flow-status") == "active"
    assert "Flow activated" in page.inner_text(".notice")
    page.screenshot(path=str(SHOTS / "flow.png"), full_page=True)

    [flow] = _flows(db, tenant.organization_id)
    assert flow.status == "active" and flow.activated_at is not None
    steps = flow.definition["steps"]
    assert [s["type"] for s in steps] == ["send", "wait", "condition", "tag", "send", "wait"]
    assert steps[0]["subject"] == "See you tomorrow at {{ venue }}" and steps[1]["duration"] == "PT2H"

    page.click("header.top nav >> text=Flows")
    page.wait_for_selector("#flows tbody tr[data-flow-id]")
    assert "active" in page.inner_text(f"#flows tr[data-flow-id='{flow.id}']")
    page.screenshot(path=str(SHOTS / "flows.png"), full_page=True)


def test_the_funnel_of_a_flow_with_figures(server: str, page: Any, db: Database, tenant: Tenant) -> None:
    from tests.flows.front_data import seed_flow

    seeded = seed_flow(db, tenant.organization_id)
    make_user(db, tenant.organization_id, "v@venue.example", "viewer")
    sign_in(page, server, "v@venue.example")
    page.goto(f"{server}/manager/flows")
    page.click(f"#flows tr[data-flow-id='{seeded.flow_id}'] a")
    page.wait_for_selector("#flow-funnel svg")
    bars = [t.text_content() for t in page.query_selector_all("#flow-funnel svg rect title")]
    assert bars == ["1. Send: 5", "2. Wait: 4", "3. Condition: 2", "4. Send: 1", "5. Add tag: 1"]
    assert page.query_selector("#flow-editor") is None and page.query_selector("#activate-flow") is None
    assert page.inner_text("#fig-entered") == "5" and "$80.00" in page.inner_text("#fig-revenue")
    page.screenshot(path=str(SHOTS / "flow-funnel.png"), full_page=True)
