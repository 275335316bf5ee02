"""Sending domains: the key stored encrypted, the four records to publish, and their DNS check
against a local DNS server (ok, missing, wrong, error), through the service and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from fanhub.auth.actor import Actor
from fanhub.cli import app
from fanhub.config import Settings
from fanhub.db.engine import Database
from fanhub.errors import InvalidInput, NotFound
from fanhub.organizations.dkim_signing import generate_private_key
from fanhub.organizations.dns_checks import lookup
from fanhub.organizations.models import SendingDomain
from fanhub.organizations.sending_domains import (
    add_sending_domain,
    check_dns,
    default_selector,
    dns_records,
    list_sending_domains,
)
from fanhub.secrets import decrypt_text
from tests.conftest import Tenant, make_tenant
from tests.fakes.dns import FakeDnsServer


def _add(db: Database, tenant: Tenant, domain: str = "venue.example") -> SendingDomain:
    with db.write() as session:
        added = add_sending_domain(session, Actor.cli(tenant.organization_id), domain)
        session.expunge(added)
        return added


def _publish_all(fake_dns: FakeDnsServer, domain: SendingDomain) -> None:
    for record in dns_records(domain):
        fake_dns.set(record.name, record.type, record.value)


def test_the_private_key_is_stored_encrypted(db: Database, tenant: Tenant) -> None:
    added = _add(db, tenant)
    with db.engine.connect() as connection:
        raw = connection.execute(text("SELECT private_key_encrypted, public_key FROM sending_domains")).one()
    assert "PRIVATE KEY" not in raw[0] and "MII" not in raw[0]  # neither the PEM nor its base64 body
    pem = decrypt_text(raw[0])
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from fanhub.organizations.dkim_signing import public_key_of

    key = load_pem_private_key(pem.encode(), None)
    assert key.key_size == 2048  # type: ignore[union-attr]
    assert public_key_of(key) == raw[1] == added.public_key  # type: ignore[arg-type]
    assert added.selector == default_selector() == f"fanhub{datetime.now(UTC):%Y%m}"


def test_the_four_records_with_a_bounce_subdomain_and_an_spf_include(db: Database, tenant: Tenant) -> None:
    added = _add(db, tenant, "Venue.Example.")
    settings = Settings(
        bounce_address="bounces@mail.venue.example",
        spf_include="amazonses.com",
        return_path_target="mx:feedback-smtp.us-east-1.amazonses.com",
    )
    records = [(r.purpose, r.type, r.name, r.value) for r in dns_records(added, settings)]
    assert records == [
        ("dkim", "TXT", f"{added.selector}._domainkey.venue.example", f"v=DKIM1; k=rsa; p={added.public_key}"),
        ("spf", "TXT", "mail.venue.example", "v=spf1 include:amazonses.com ~all"),
        ("dmarc", "TXT", "_dmarc.venue.example", "v=DMARC1; p=none; rua=mailto:dmarc-reports@venue.example"),
        ("return_path", "MX", "mail.venue.example", "10 feedback-smtp.us-east-1.amazonses.com"),
    ]


def test_records_without_bounce_address_name_the_relay(db: Database, tenant: Tenant) -> None:
    added = _add(db, tenant)
    by_purpose = {r.purpose: r for r in dns_records(added, Settings(smtp_host="smtp.relay.example"))}
    assert (by_purpose["spf"].name, by_purpose["spf"].value) == ("venue.example", "v=spf1 a:smtp.relay.example ~all")
    assert (by_purpose["return_path"].type, by_purpose["return_path"].value) == ("MX", "10 smtp.relay.example")
    # A relay given as an address; a bounce domain outside the sending domain; a CNAME return path.
    settings = Settings(
        smtp_host="203.0.113.5", bounce_address="b@bounces.operator.example", return_path_target="cname:pm.mtasv.net"
    )
    by_purpose = {r.purpose: r for r in dns_records(added, settings)}
    assert (by_purpose["spf"].name, by_purpose["spf"].value) == ("venue.example", "v=spf1 ip4:203.0.113.5 ~all")
    assert (by_purpose["return_path"].type, by_purpose["return_path"].value) == ("CNAME", "pm.mtasv.net")


def test_bad_and_duplicate_domains_are_refused_naming_the_field(db: Database, tenant: Tenant) -> None:
    _add(db, tenant)
    for bad in ("", "localhost", "venue..example", "-venue.example", "venue.example/x", "a" * 64 + ".example"):
        with pytest.raises(InvalidInput) as refused, db.write() as session:
            add_sending_domain(session, Actor.cli(tenant.organization_id), bad)
        assert refused.value.errors[0]["field"] == "domain"
    with pytest.raises(InvalidInput, match="venue.example is already added"), db.write() as session:
        add_sending_domain(session, Actor.cli(tenant.organization_id), "VENUE.example")
    with pytest.raises(InvalidInput, match="administer"), db.write() as session:
        add_sending_domain(session, Actor.staff(tenant.organization_id, 1, "marketer"), "news.venue.example")
    # An internationalized name is stored as its ASCII form.
    assert _add(db, tenant, "bücher.example").domain == "xn--bcher-kva.example"


def test_another_organizations_domain_is_not_found(db: Database, tenant: Tenant, fake_dns: FakeDnsServer) -> None:
    added = _add(db, tenant)
    other = make_tenant(db, "Other venue", "other")
    with db.write() as session:
        assert list_sending_domains(session, Actor.cli(other.organization_id)) == []
        with pytest.raises(NotFound):
            check_dns(session, Actor.cli(other.organization_id), added.id)


def test_dns_check_reports_ok_missing_and_wrong_then_all_ok(
    db: Database, tenant: Tenant, fake_dns: FakeDnsServer
) -> None:
    added = _add(db, tenant)
    records = {r.purpose: r for r in dns_records(added)}
    _, other_key = generate_private_key()
    fake_dns.set(records["dkim"].name, "TXT", f"v=DKIM1; k=rsa; p={other_key}")  # someone else's key
    fake_dns.set("venue.example", "TXT", "v=spf1 include:_spf.google.com ~all", "google-site-verification=abc")
    fake_dns.set("venue.example", "MX", "10 smtp.relay.example", "20 backup.example")
    with db.write() as session:
        checks = check_dns(session, Actor.cli(tenant.organization_id), added.id)
    states = {c.record.purpose: (c.state, c.found) for c in checks}
    assert states == {
        "dkim": ("wrong", (f"v=DKIM1; k=rsa; p={other_key}",)),
        "spf": ("wrong", ("google-site-verification=abc", "v=spf1 include:_spf.google.com ~all")),
        "dmarc": ("missing", ()),
        "return_path": ("ok", ("10 smtp.relay.example", "20 backup.example")),
    }
    assert ("_dmarc.venue.example", "TXT") in fake_dns.queries
    with db.read() as session:
        stored = session.get(SendingDomain, added.id)
        assert stored is not None and stored.last_checked_at is not None and stored.check_results is not None
        assert [r["state"] for r in stored.check_results] == ["wrong", "wrong", "missing", "ok"]
        assert "a:smtp.relay.example" in stored.check_results[1]["message"]

    # The venue publishes what the page shows (its SPF merged with the relay's): all ok.
    _publish_all(fake_dns, added)
    fake_dns.set("venue.example", "TXT", "v=spf1 include:_spf.google.com a:smtp.relay.example ~all")
    with db.write() as session:
        checks = check_dns(session, Actor.cli(tenant.organization_id), added.id)
    assert [(c.record.purpose, c.state) for c in checks] == [
        ("dkim", "ok"),
        ("spf", "ok"),
        ("dmarc", "ok"),
        ("return_path", "ok"),
    ]


def test_two_spf_records_or_a_dns_server_that_does_not_answer(db: Database, tenant: Tenant) -> None:
    added = _add(db, tenant)
    records = dns_records(added, Settings(smtp_host="smtp.relay.example"))
    with FakeDnsServer() as server:
        server.set("venue.example", "TXT", "v=spf1 a:smtp.relay.example ~all", "v=spf1 mx ~all")
        spf = lookup(records, server.address)[1]
    assert spf.state == "wrong" and "More than one SPF record" in spf.message
    with FakeDnsServer() as silent:
        address = silent.address
    # The server is gone: nobody answers on its port.
    unanswered = lookup(records, address, timeout=0.3)
    assert {c.state for c in unanswered} == {"error"}


def test_cli_add_list_and_check(db: Database, tenant: Tenant, fake_dns: FakeDnsServer) -> None:
    org = str(tenant.organization_id)
    runner = CliRunner()
    added = runner.invoke(app, ["org", "sending-domain", "add", "venue.example", "--org", org, "--json"])
    assert added.exit_code == 0, added.output
    payload = json.loads(added.output)
    assert payload["domain"] == "venue.example"
    assert [r["purpose"] for r in payload["records"]] == ["dkim", "spf", "dmarc", "return_path"]
    for record in payload["records"]:
        fake_dns.set(record["name"], record["type"], record["value"])
    fake_dns.set("_dmarc.venue.example", "TXT")  # not published yet

    checked = runner.invoke(app, ["org", "sending-domain", "check", "venue.example", "--org", org, "--json"])
    assert checked.exit_code == 0, checked.output
    result = json.loads(checked.output)
    assert result["ok"] is False
    assert [r["state"] for r in result["records"]] == ["ok", "ok", "missing", "ok"]

    listed = json.loads(runner.invoke(app, ["org", "sending-domain", "list", "--org", org, "--json"]).output)
    assert [d["domain"] for d in listed["sending_domains"]] == ["venue.example"]
    assert [r["state"] for r in listed["sending_domains"][0]["last_check"]] == ["ok", "ok", "missing", "ok"]

    unknown = runner.invoke(app, ["org", "sending-domain", "check", "nope.example", "--org", org, "--json"])
    assert unknown.exit_code == 1 and "not found" in json.loads(unknown.output)["error"]
    bad = runner.invoke(app, ["org", "sending-domain", "add", "not a domain", "--org", org, "--json"])
    assert bad.exit_code == 1 and json.loads(bad.output) == {
        "error": "invalid domain: Give a domain name such as venue.example."
    }
