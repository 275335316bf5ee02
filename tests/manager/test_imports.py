"""CSV import: the five subscription modes with hand-computed consent states, mapping, rejects, CLI.

Before each import the organization holds (set through the Partners API, as a partner would):
  keep@   email subscribed          (opt_ins.email true)
  out@    email unsubscribed        (opt_ins.email false: an explicit opt-out)
  quiet@  email unknown             (opt_ins.email null)
and the file adds new@ (unknown to fanhub), plus a row with a bad email and a blank row.
"""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from fanhub.audience.models import Contact, ContactGenre
from fanhub.db.engine import Database
from fanhub.imports import service as imports
from fanhub.ingest.service import drain
from tests.conftest import post_and_apply
from tests.manager.conftest import Staff

CSV = (
    "First Name,Last Name,E-mail,Mobile,Tags,Birthday\n"
    "Keep,Er,KEEP@example.com,,VIP,2006-01-02\n"
    "Opted,Out,out@example.com,,,Jan 2 2006\n"
    'Quiet,One,quiet@example.com,(415) 555-0199,VIP; Locals,"January 2, 2006"\n'
    "New,Fan,new@example.com,,,01/02/2006\n"
    "Bad,Mail,not-an-email,,,\n"
    ",,,,,\n"
)

# email mode -> expected email status of keep, out, quiet, new; and quiet's SMS status, which the
# email mode never touches (SMS has its own mode, `dont_change` unless chosen: tests/audience/test_import_channels.py)
EXPECTED = {
    "subscribe_everyone": (("subscribed",) * 4, "unknown"),
    "subscribe_if_not_opted_out": (("subscribed", "unsubscribed", "subscribed", "subscribed"), "unknown"),
    "unsubscribe_everyone": (("unsubscribed",) * 4, "unknown"),
    "unsubscribe_if_not_subscribed": (("subscribed", "unsubscribed", "unsubscribed", "unsubscribed"), "unknown"),
    "dont_change": (("subscribed", "unsubscribed", "unknown", "unknown"), "unknown"),
}


def _seed(staff: Staff) -> None:
    for email, opt in (("keep@example.com", True), ("out@example.com", False), ("quiet@example.com", None)):
        post_and_apply(
            staff.client, staff.db, staff.tenant, "contact", {"contact": {"email": email}, "opt_ins": {"email": opt}}
        )


def work_off(db: Database, public_id: str) -> None:
    for _ in range(1000):
        stepped = imports.run_import_step(db)
        applied = drain(db)
        with db.read() as session:
            status = session.query(imports.ContactImport).filter_by(public_id=public_id).one().status
        if status in (imports.DONE, imports.FAILED_IMPORT):
            return
        assert stepped or applied, status
    raise AssertionError("import did not finish")


def upload(staff: Staff, text: str, name: str = "contacts.csv") -> str:
    r = staff.client.post(
        "/manager/imports",
        data={"csrf_token": staff.csrf()},
        files={"file": (name, text.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return str(r.headers["location"]).rsplit("/", 1)[1]


def start(staff: Staff, public_id: str, mode: str, extra: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    page = staff.client.get(f"/manager/imports/{public_id}").text
    form: dict[str, object] = {"csrf_token": staff.csrf(), "mode": mode}
    # Keep the guessed mapping as the page proposes it.
    for index, field in re.findall(r'name="map_(\d+)".*?<option value="([a-z_]*)" selected', page):
        form[f"map_{index}"] = field
    form.update(extra or {})
    return staff.client.post(f"/manager/imports/{public_id}/start", data=form, follow_redirects=False)


def states(db: Database, org: int) -> dict[str, tuple[str, str]]:
    with db.read() as session:
        rows = session.query(Contact).filter(Contact.organization_id == org).all()
        return {c.email or "": (c.email_status, c.sms_status) for c in rows}


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_each_mode_changes_consent_as_computed_by_hand(staff: Staff, mode: str) -> None:
    _seed(staff)
    public_id = upload(staff, CSV)
    page = staff.client.get(f"/manager/imports/{public_id}").text
    assert "KEEP@example.com" in page  # preview
    extra = {"consent_confirmed": "yes"} if mode == "subscribe_everyone" else {}
    r = start(staff, public_id, mode, extra)
    assert r.status_code == 303, r.text
    work_off(staff.db, public_id)
    got = states(staff.db, staff.org)
    emails, quiet_sms = EXPECTED[mode]
    assert tuple(got[f"{n}@example.com"][0] for n in ("keep", "out", "quiet", "new")) == emails
    assert got["quiet@example.com"][1] == quiet_sms
    result = staff.client.get(f"/manager/imports/{public_id}").text
    assert re.search(r'id="result-created">1<', result)  # new@
    assert re.search(r'id="result-merged">3<', result)
    assert re.search(r'id="result-skipped">1<', result)
    assert re.search(r'id="result-rejected">1<', result)
    issues = staff.client.get(f"/manager/imports/{public_id}/issues.csv").text
    assert "6,email,not-an-email" in issues  # row 6 of the file (the header is row 1)
    # The consent ledger names the import as the source.
    with staff.db.read() as session:
        contact = session.query(Contact).filter_by(email="new@example.com").one()
        assert contact.birthday == "2006-01-02" and contact.first_name == "New"
    if mode != "dont_change":
        contact_page = staff.client.get(f"/manager/contacts/{contact.id}").text
        assert f"import:{public_id} via import.{mode}" in contact_page


def test_subscribe_everyone_needs_the_consent_confirmation(staff: Staff) -> None:
    _seed(staff)
    public_id = upload(staff, CSV)
    r = start(staff, public_id, "subscribe_everyone")
    assert r.status_code == 400 and 'id="consent-error"' in r.text
    assert imports.run_import_step(staff.db) is False  # nothing was queued
    assert states(staff.db, staff.org)["out@example.com"][0] == "unsubscribed"


def test_mapping_mistakes_are_shown_next_to_the_fields(staff: Staff) -> None:
    public_id = upload(staff, "a,b\n1,2\n")
    r = start(staff, public_id, "dont_change")
    assert r.status_code == 400 and "map at least an email or a phone column" in r.text
    r = start(staff, public_id, "dont_change", {"map_0": "email", "map_1": "email"})
    assert r.status_code == 400 and "mapped twice" in r.text
    r = start(staff, public_id, "", {"map_0": "email"})
    assert r.status_code == 400 and "choose how email subscriptions are handled" in r.text


def test_unreadable_uploads_are_refused_politely(staff: Staff) -> None:
    for text in ("", "\n\n", "only,a,header\n"):
        r = staff.client.post(
            "/manager/imports", data={"csrf_token": staff.csrf()}, files={"file": ("x.csv", text.encode(), "text/csv")}
        )
        assert r.status_code == 400 and 'id="upload-error"' in r.text
    r = staff.client.post(
        "/manager/imports",
        data={"csrf_token": staff.csrf()},
        files={"file": ("x.csv", b"\xff\xfe\x00garbage\x00,\x00\n\x01,\x02", "text/csv")},
    )
    assert r.status_code < 500


def test_tags_lists_and_semicolon_files(staff: Staff) -> None:
    staff.post("/manager/tags", {"kind": "list", "name": "Newsletter"})
    staff.post("/manager/tags", {"kind": "tag", "name": "Imported"})
    from fanhub.audience.service import list_lists, list_tags

    with staff.db.read() as session:
        list_id = list_lists(session, staff.org)[0].id
        tag_id = list_tags(session, staff.org)[0].id
    public_id = upload(staff, "email;genres\nz@example.com;Rock\ny@example.com;Polka Metal\n")
    r = start(staff, public_id, "dont_change", {"list_ids": [list_id], "tag_ids": [tag_id]})
    assert r.status_code == 303
    work_off(staff.db, public_id)
    page = staff.client.get(f"/manager/contacts?list={list_id}&tag={tag_id}").text
    # An unknown genre no longer costs the row: y@ is imported without it, and the value is listed.
    assert "z@example.com" in page and "y@example.com" in page
    issues = staff.client.get(f"/manager/imports/{public_id}/issues.csv").text
    assert "3,genres,Polka Metal" in issues and "genre list" in issues and issues.rstrip().endswith(",skipped")
    result = staff.client.get(f"/manager/imports/{public_id}").text
    assert re.search(r'id="result-rejected">0<', result) and re.search(r'id="result-partly">1<', result)
    with staff.db.read() as session:
        genres = {
            c.email: [g.genre for g in session.query(ContactGenre).filter_by(contact_id=c.id)]
            for c in session.query(Contact).filter(Contact.organization_id == staff.org)
        }
    assert genres == {"z@example.com": ["Rock"], "y@example.com": []}


def test_cli_import_uses_the_same_path(staff: Staff, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _seed(staff)
    path = tmp_path / "fans.csv"
    path.write_text(CSV.replace("Tags,", "Labels,"))
    from fanhub.cli import app

    result = CliRunner().invoke(
        app,
        [
            "contacts",
            "import",
            str(path),
            "--org",
            str(staff.org),
            "--mode",
            "subscribe_if_not_opted_out",
            "--map",
            "Labels=tags",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["status"] == "done" and body["created"] == 1 and body["rejected"] == 1 and body["skipped"] == 1
    got = states(staff.db, staff.org)
    assert got["out@example.com"][0] == "unsubscribed" and got["quiet@example.com"] == ("subscribed", "unknown")
    # The JSON result names each rejected row with its field and reason, and the counts per channel.
    assert body["issues"] == [
        {
            "row": 6,
            "outcome": "rejected",
            "field": "email",
            "value": "not-an-email",
            "reason": body["issues"][0]["reason"],
        }
    ]
    assert "email" in body["issues"][0]["reason"]
    assert body["channels"]["email"] == {"subscribed": 2, "unsubscribed": 0, "unchanged": 2}
    assert body["channels"]["sms"] == {"subscribed": 0, "unsubscribed": 0, "unchanged": 4}
    bad = CliRunner().invoke(
        app, ["contacts", "import", str(path), "--org", str(staff.org), "--mode", "subscribe_everyone", "--json"]
    )
    assert bad.exit_code != 0 and "consent" in json.loads(bad.stdout)["error"]


def test_large_files_arrive_in_parts(staff: Staff) -> None:
    data = ("Name,Email\n" + "".join(f"Zoë {i},z{i}@example.com\n" for i in range(50))).encode()
    cut = data.index("ë".encode()) + 1  # split inside a two-byte character
    parts = [data[:cut], data[cut:400], data[400:]]
    upload_id = ""
    for index, part in enumerate(parts):
        r = staff.client.post(
            "/manager/imports/parts",
            data={
                "csrf_token": staff.csrf(),
                "upload_id": upload_id,
                "index": str(index),
                "last": "1" if index == len(parts) - 1 else "0",
                "filename": "big.csv",
            },
            files={"part": ("big.csv", part, "application/octet-stream")},
        )
        assert r.status_code == 200, r.text
        upload_id = r.json()["upload_id"]
    page = staff.client.get(r.json()["next"]).text
    assert "Zoë 0" in page and "50 data rows" in page
    out_of_order = staff.client.post(
        "/manager/imports/parts",
        data={"csrf_token": staff.csrf(), "upload_id": upload_id, "index": "7", "last": "1"},
        files={"part": ("x", b"x", "application/octet-stream")},
    )
    assert out_of_order.status_code == 400 and "error" in out_of_order.json()
