"""The suppression list in the manager over HTTP: paged and filtered, add, remove (audited), import,
export, organizations kept apart, viewers refused; the sender warning; a campaign's bounce figures
and the reputation guard's pause on its page."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from fanhub.audience import suppression
from fanhub.campaigns.lifecycle import ACKNOWLEDGED
from fanhub.campaigns.models import Campaign, CampaignStats
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from fanhub.deliverability.models import Bounce
from fanhub.organizations.audit import AuditEntry
from tests.conftest import make_tenant
from tests.manager.conftest import Staff
from tests.manager.helpers import login, make_user

PAGE = "/manager/suppressions"


def _suppress(db: Database, org: int, *entries: tuple[str, str]) -> None:
    with db.write() as session:
        for address, reason in entries:
            suppression.suppress(session, org, address, reason, "test")


def _listed(html: str) -> list[str]:
    return [line.split('"')[1] for line in html.split("<tr data-address=")[1:]]


def _entries(db: Database, org: int) -> dict[str, tuple[str, str, str | None]]:
    with db.read() as session:
        rows, _ = suppression.page(session, org, per_page=1000)
        return {r.address: (r.reason, r.source, r.detail) for r in rows}


def test_the_list_is_paged_newest_first_and_filtered_by_reason(staff: Staff) -> None:
    reasons = [suppression.HARD_BOUNCE] * 40 + [suppression.COMPLAINT] * 15 + [suppression.SOFT_BOUNCE] * 5
    _suppress(staff.db, staff.org, *((f"a{i:02d}@example.com", r) for i, r in enumerate(reasons)))
    first = staff.client.get(PAGE)
    assert first.status_code == 200
    assert _listed(first.text) == [f"a{i:02d}@example.com" for i in range(59, 9, -1)]  # 50 per page
    assert "All (60)" in first.text and "Hard bounce (40)" in first.text and "Spam complaint (15)" in first.text
    assert "Added by staff" not in first.text  # reasons nobody has are not offered
    second = staff.client.get(f"{PAGE}?page=2")
    assert _listed(second.text) == [f"a{i:02d}@example.com" for i in range(9, -1, -1)]
    assert 'id="next-page"' in first.text and 'id="next-page"' not in second.text
    complaints = staff.client.get(f"{PAGE}?reason=complaint")
    assert _listed(complaints.text) == [f"a{i:02d}@example.com" for i in range(54, 39, -1)]
    # An unknown reason or page is no error: the whole list, first page.
    odd = staff.client.get(f"{PAGE}?reason=<x>&page=abc")
    assert odd.status_code == 200 and len(_listed(odd.text)) == 50
    nobody = staff.client.get(f"{PAGE}?reason=manual")
    assert _listed(nobody.text) == [] and "No address with this reason." in nobody.text


def test_staff_add_an_address_with_reason_manual(staff: Staff) -> None:
    r = staff.post(PAGE, {"address": "  Fan@Example.COM "})
    assert r.status_code == 303 and "fan%40example.com%20suppressed" in r.headers["location"]
    assert _entries(staff.db, staff.org) == {"fan@example.com": ("manual", f"staff:{staff.user_id}", None)}
    again = staff.post(PAGE, {"address": "fan@example.com"})
    assert "already%20on%20the%20list" in again.headers["location"]
    bad = staff.post(PAGE, {"address": "not an address"})
    assert bad.status_code == 400 and 'id="address-error"' in bad.text and "not an email address" in bad.text
    assert 'value="not an address"' in bad.text  # kept in the field to correct it
    assert staff.post(PAGE, {"address": ""}).status_code == 400
    assert list(_entries(staff.db, staff.org)) == ["fan@example.com"]


def test_removing_an_address_is_audited_with_the_staff_member(staff: Staff) -> None:
    _suppress(staff.db, staff.org, ("gone@example.com", suppression.HARD_BOUNCE), ("kept@example.com", "complaint"))
    page = staff.client.get(PAGE).text
    assert 'data-confirm="Remove gone@example.com from the suppression list?' in page
    r = staff.post(f"{PAGE}/remove", {"address": "Gone@Example.com"})
    assert r.status_code == 303 and "removed" in r.headers["location"]
    assert list(_entries(staff.db, staff.org)) == ["kept@example.com"]
    with staff.db.read() as session:
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "suppression.remove")))
    assert [(e.organization_id, e.actor, e.details) for e in entries] == [
        (
            staff.org,
            f"staff:{staff.user_id}",
            {"address": "gone@example.com", "reason": "hard_bounce", "source": "test"},
        )
    ]
    missing = staff.post(f"{PAGE}/remove", {"address": "gone@example.com"})
    assert missing.status_code == 400 and "address: gone@example.com is not on the list" in missing.text


def _upload(staff: Staff, name: str, content: bytes):  # type: ignore[no-untyped-def]
    return staff.post(f"{PAGE}/import", files={"file": (name, content, "text/csv")})


def test_import_another_providers_export(staff: Staff) -> None:
    _suppress(staff.db, staff.org, ("old@example.com", suppression.HARD_BOUNCE))
    mailchimp = (
        "\ufeffEmail Address,First Name,Reason\r\n"
        "One@Example.com,One,hard bounce\r\n"
        "two@example.com,Two,\r\n"
        "old@example.com,Old,spam\r\n"
        "nonsense,X,\r\n"
    ).encode()
    r = _upload(staff, "mailchimp-cleaned.csv", mailchimp)
    assert r.status_code == 303
    assert (
        "4%20rows%2C%202%20added%2C%201%20already%20on%20the%20list%2C%201%20not%20an%20email" in r.headers["location"]
    )
    assert _entries(staff.db, staff.org) == {
        "one@example.com": ("imported", "import:mailchimp-cleaned.csv", "hard bounce"),
        "two@example.com": ("imported", "import:mailchimp-cleaned.csv", None),
        "old@example.com": ("hard_bounce", "test", None),  # an existing entry keeps its reason
    }
    no_column = _upload(staff, "x.csv", b"name,phone\nAnn,+14155550100\n")
    assert (
        no_column.status_code == 400 and 'id="file-error"' in no_column.text and "no address column" in no_column.text
    )
    latin1 = _upload(staff, "x.csv", "email,reason\nzoé@example.com,x\n".encode("latin-1"))
    assert latin1.status_code == 400 and "not UTF-8" in latin1.text
    nothing = staff.post(f"{PAGE}/import", {})
    assert nothing.status_code == 400 and 'id="file-error"' in nothing.text
    assert len(_entries(staff.db, staff.org)) == 3


def test_export_downloads_every_entry_as_formula_safe_csv(staff: Staff) -> None:
    _suppress(staff.db, staff.org, *((f"e{i}@example.com", suppression.SOFT_BOUNCE) for i in range(7)))
    _upload(staff, "sendgrid.csv", b'email,reason\nevil@example.com,=HYPERLINK("http://x")\n')
    r = staff.client.get(f"{PAGE}/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="suppressions.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["address"] for row in rows] == [*(f"e{i}@example.com" for i in range(7)), "evil@example.com"]
    assert list(rows[0]) == ["address", "reason", "source", "detail", "created_at"]
    assert rows[-1]["detail"] == '\'=HYPERLINK("http://x")'  # a spreadsheet shows it, never runs it
    assert datetime.fromisoformat(rows[0]["created_at"]).tzinfo is not None


def test_export_reads_a_long_list_in_chunks(staff: Staff) -> None:
    from fanhub.deliverability.queries import iter_export_rows

    _suppress(staff.db, staff.org, *((f"c{i:02d}@example.com", suppression.MANUAL) for i in range(25)))
    rows = list(iter_export_rows(staff.db, staff.org, chunk=10))
    assert [row["address"] for row in rows] == [f"c{i:02d}@example.com" for i in range(25)]


def test_another_organizations_entries_are_invisible_and_untouchable(staff: Staff) -> None:
    other = make_tenant(staff.db, "Other Venue", "other")
    _suppress(staff.db, other.organization_id, ("theirs@example.com", suppression.COMPLAINT))
    _suppress(staff.db, staff.org, ("ours@example.com", suppression.HARD_BOUNCE))
    page = staff.client.get(PAGE).text
    assert _listed(page) == ["ours@example.com"] and "theirs@example.com" not in page and "All (1)" in page
    assert "theirs@example.com" not in staff.client.get(f"{PAGE}/export.csv").text
    assert staff.post(f"{PAGE}/remove", {"address": "theirs@example.com"}).status_code == 400
    assert list(_entries(staff.db, other.organization_id)) == ["theirs@example.com"]
    # The same address may be on both lists, each organization's own.
    assert staff.post(PAGE, {"address": "theirs@example.com"}).status_code == 303
    assert _entries(staff.db, other.organization_id)["theirs@example.com"][0] == "complaint"


def test_a_viewer_sees_the_list_but_cannot_change_it(staff: Staff) -> None:
    _suppress(staff.db, staff.org, ("kept@example.com", suppression.HARD_BOUNCE))
    make_user(staff.db, staff.org, "viewer@venue.example", "viewer")
    staff.client.cookies.clear()
    login(staff.client, "viewer@venue.example")
    page = staff.client.get(PAGE)
    assert page.status_code == 200 and _listed(page.text) == ["kept@example.com"]
    assert 'id="add-suppression"' not in page.text and "remove-suppression" not in page.text
    assert staff.client.get(f"{PAGE}/export.csv").status_code == 200
    assert staff.post(PAGE, {"address": "new@example.com"}).status_code == 403
    assert staff.post(f"{PAGE}/remove", {"address": "kept@example.com"}).status_code == 403
    assert _upload(staff, "x.csv", b"email\nx@example.com\n").status_code == 403
    assert list(_entries(staff.db, staff.org)) == ["kept@example.com"]


def _bounce(db: Database, org: int, key: str, at: datetime, diagnostic: str, warning: bool = True) -> None:
    with db.write() as session:
        session.add(
            Bounce(
                organization_id=org,
                address=f"{key}@gmail.example",
                kind="soft",
                reason="policy",
                status="5.7.26",
                diagnostic=diagnostic,
                source="dsn",
                matched_by="verp",
                sender_warning=warning,
                replay_key=key,
                occurred_at=at,
            )
        )


def test_a_recent_rejection_about_the_sender_shows_a_notice(staff: Staff) -> None:
    assert 'id="sender-warning"' not in staff.client.get(PAGE).text
    now = utcnow()
    _bounce(staff.db, staff.org, "old", now - timedelta(days=8), "550 5.7.26 too old to matter")
    _bounce(staff.db, staff.org, "plain", now - timedelta(hours=1), "550 5.1.1 user unknown", warning=False)
    other = make_tenant(staff.db, "Other Venue", "other")
    _bounce(staff.db, other.organization_id, "theirs", now, "550 5.7.26 DMARC of theirs")
    assert 'id="sender-warning"' not in staff.client.get(PAGE).text
    assert 'id="sender-warning"' not in staff.client.get("/manager/").text
    _bounce(staff.db, staff.org, "first", now - timedelta(days=2), "550 5.7.1 listed at a blocklist")
    _bounce(staff.db, staff.org, "latest", now - timedelta(hours=3), "550 5.7.26 unauthenticated: DMARC policy")
    page = staff.client.get(PAGE).text
    assert "rejected mail for a reason about your sending domain or reputation (SPF, DKIM, DMARC, blocklist)" in page
    assert "2 such rejections in the last 7 days" in page and "latest@gmail.example" in page
    assert 'href="/manager/settings/sending-domains"' in page  # an admin can open it
    assert "550 5.7.26 unauthenticated: DMARC policy</code>" in page
    dashboard = staff.client.get("/manager/").text
    assert 'id="sender-warning"' in dashboard and "5.7.26 unauthenticated: DMARC policy" in dashboard
    assert "DMARC of theirs" not in page + dashboard


def _campaign(db: Database, org: int, status: str, reason: str | None, **stats: int) -> int:
    with db.write() as session:
        campaign = Campaign(
            organization_id=org,
            type="email",
            name="Summer",
            subject="Summer shows",
            body="<p>Come</p>",
            audience={},
            status=status,
            delivered_at=datetime(2024, 6, 1, 12, tzinfo=UTC),
            paused_at=datetime(2024, 6, 1, 13, tzinfo=UTC) if status == "paused" else None,
            paused_reason=reason,
        )
        session.add(campaign)
        session.flush()
        session.add(CampaignStats(campaign_id=campaign.id, organization_id=org, **stats))
        return campaign.id


def test_campaign_page_shows_the_guard_pause_and_the_bounce_figures(staff: Staff) -> None:
    reason = "hard-bounce rate 6.0% of 1,000 deliveries is over 5.0%: clean the list before resuming"
    figures = {"recipients": 1000, "delivered": 940, "undelivered": 60, "hard_bounces": 60, "soft_bounces": 7}
    paused = _campaign(staff.db, staff.org, "paused", reason, complaints=2, suppressed=41, **figures)
    with staff.db.write() as session:
        for i in range(3):
            session.add(
                Bounce(
                    organization_id=staff.org,
                    address=f"b{i}@example.com",
                    kind="hard",
                    reason="user_unknown",
                    source="dsn",
                    matched_by="verp",
                    campaign_id=paused,
                    replay_key=f"k{i}",
                )
            )
    page = staff.client.get(f"/manager/campaigns/{paused}").text
    assert f"Paused automatically: {reason}.</strong> Resume to send anyway." in page
    assert 'id="dv-hard">60<' in page and "6.0% of 1,000 sent · paused above 5%" in page
    assert 'id="dv-soft">7<' in page and 'id="dv-complaints">2<' in page and 'id="dv-suppressed">41<' in page
    assert "0.21% of 940 delivered · paused above 0.3%" in page
    assert "user unknown (hard, 3)" in page

    resumed = _campaign(staff.db, staff.org, "sent", ACKNOWLEDGED + reason, recipients=10, delivered=10)
    page = staff.client.get(f"/manager/campaigns/{resumed}").text
    assert "Paused automatically:" not in page and "resumed by staff" in page and 'id="dv-hard">0<' in page
    staff_paused = _campaign(staff.db, staff.org, "paused", None, recipients=10, delivered=5)
    assert 'id="guard-paused"' not in staff.client.get(f"/manager/campaigns/{staff_paused}").text
    draft = staff.post("/manager/campaigns", {"type": "email", "name": "D", "subject": "S", "body": "<p>x</p>"})
    draft_page = staff.client.get(draft.headers["location"]).text
    assert 'id="campaign-deliverability"' not in draft_page  # nothing sent, nothing to show
