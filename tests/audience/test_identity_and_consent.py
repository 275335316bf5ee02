"""One contact per person (email and phone), fields filled never blanked, and the consent ledger rules."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from fanhub.audience.consent import ConsentChange
from fanhub.audience.service import change_consent
from fanhub.db.base import utcnow
from fanhub.db.engine import Database
from tests.conftest import Tenant, post_and_apply
from tests.examples import order


def _contacts(client: TestClient, tenant: Tenant, **params: Any) -> list[dict[str, Any]]:
    return list(client.get("/v1/partners/contacts", params=params, headers=tenant.headers).json()["response"])


def _contact(client: TestClient, tenant: Tenant, contact_id: int) -> dict[str, Any]:
    return dict(client.get(f"/v1/partners/contacts/{contact_id}", headers=tenant.headers).json()["response"])


def test_customers_deduplicate_by_normalised_email_and_phone(client: TestClient, db: Database, tenant: Tenant) -> None:
    orders = [
        order("1", email="Ann@Example.com "),
        order("2", email="ann@example.com", phone="(303) 555-0101"),
        order("3", phone="+1 303 555 0101"),
        order("4", phone="3035550101", email=None),
        order("5", email="bob@example.com"),
    ]
    post_and_apply(client, db, tenant, "orders", {"orders": orders})
    contacts = _contacts(client, tenant)
    assert sorted((c["email"], c["phone"]) for c in contacts) == [
        ("ann@example.com", "+13035550101"),
        ("bob@example.com", None),
    ]
    ann = next(c for c in contacts if c["email"] == "ann@example.com")
    ann_orders = client.get("/v1/partners/orders", params={"contact_id": ann["id"]}, headers=tenant.headers).json()
    assert sorted(o["external_id"] for o in ann_orders["response"]) == ["1", "2", "3", "4"]


def test_later_records_fill_missing_fields_but_never_blank_known_ones(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    first = order("1", email="ann@example.com")
    first["customer"].update(first_name="Ann", address="81611")
    post_and_apply(client, db, tenant, "orders", {"orders": [first]})
    second = order("2", email="ann@example.com", phone="303-555-0101")
    second["customer"].update(first_name="Annie", last_name="Lee")
    post_and_apply(client, db, tenant, "orders", {"orders": [second]})
    (ann,) = _contacts(client, tenant)
    assert (ann["first_name"], ann["last_name"], ann["address"], ann["phone"]) == (
        "Ann",
        "Lee",
        "81611",
        "+13035550101",
    )


def test_email_and_phone_of_two_contacts_join_the_email_contact(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    post_and_apply(
        client, db, tenant, "orders", {"orders": [order("1", email="ann@example.com"), order("2", phone="3035550101")]}
    )
    post_and_apply(client, db, tenant, "orders", {"orders": [order("3", email="ann@example.com", phone="3035550101")]})
    contacts = {c["email"] or c["phone"]: c for c in _contacts(client, tenant)}
    assert set(contacts) == {"ann@example.com", "+13035550101"}
    assert contacts["ann@example.com"]["phone"] is None  # the phone stays with the contact that holds it
    third = client.get(
        "/v1/partners/orders", params={"contact_id": contacts["ann@example.com"]["id"]}, headers=tenant.headers
    ).json()["response"]
    assert sorted(o["external_id"] for o in third) == ["1", "3"]


def test_opt_ins_true_false_null(client: TestClient, db: Database, tenant: Tenant) -> None:
    def post(opt_ins: dict[str, Any]) -> dict[str, Any]:
        post_and_apply(
            client, db, tenant, "contact", {"contact": {"email": "c@x.co", "phone": "3035550199"}, "opt_ins": opt_ins}
        )
        return _contacts(client, tenant)[0]["subscriptions"]

    state = post({"email": True, "sms": True})
    assert state["email"]["status"] == "subscribed" and state["sms"]["status"] == "subscribed"
    assert state["email"]["changed_at"] is not None
    state = post({"email": None, "sms": False})
    assert state["email"]["status"] == "subscribed" and state["sms"]["status"] == "unsubscribed"
    state = post({})
    assert state["email"]["status"] == "subscribed" and state["sms"]["status"] == "unsubscribed"
    state = post({"email": False, "sms": None})
    assert state["email"]["status"] == "unsubscribed" and state["sms"]["status"] == "unsubscribed"
    contact_id = _contacts(client, tenant)[0]["id"]
    history = _contact(client, tenant, contact_id)["consent_history"]
    assert [(h["channel"], h["subscribed"]) for h in history] == [
        ("email", True),
        ("sms", True),
        ("sms", False),
        ("email", False),
    ]
    assert all(h["source"] == "partner:acme" and h["via"] == "contact.opt_ins" for h in history)


def test_an_opt_out_is_never_undone_by_old_or_replayed_orders(client: TestClient, db: Database, tenant: Tenant) -> None:
    post_and_apply(
        client,
        db,
        tenant,
        "orders",
        {"orders": [order("1", "ann@x.co", opt_in_email=True, created_at="2024-01-01T00:00:00Z")]},
    )
    (ann,) = _contacts(client, tenant)
    assert ann["subscriptions"]["email"]["status"] == "subscribed"
    with db.write() as session:
        change_consent(
            session,
            tenant.organization_id,
            ann["id"],
            ConsentChange("email", False, "unsubscribe_link", "campaign:1", utcnow(), "POST"),
        )
    # The same order re-sent, an old order, and a platform sync claiming opt-in: none re-subscribes.
    post_and_apply(
        client,
        db,
        tenant,
        "orders",
        {"orders": [order("1", "ann@x.co", opt_in_email=True, created_at="2024-01-01T00:00:00Z", quantity=3)]},
    )
    post_and_apply(
        client,
        db,
        tenant,
        "orders",
        {"orders": [order("0", "ann@x.co", opt_in_email=True, created_at="2024-02-01T00:00:00Z")]},
    )
    from fanhub.ingest.records import ContactBatch
    from fanhub.ingest.service import drain, enqueue_batch

    with db.write() as session:
        batch = ContactBatch.model_validate(
            {"contacts": [{"contact": {"email": "ann@x.co"}, "opt_ins": {"email": True}, "via": "connector"}]}
        )
        enqueue_batch(session, tenant.organization_id, "eventbrite:1", "contacts", batch.model_dump_json(), 1)
    drain(db)
    assert _contact(client, tenant, ann["id"])["subscriptions"]["email"]["status"] == "unsubscribed"

    # A checkout after the opt-out with the box ticked is a new opt-in; so is an explicit contact opt-in.
    post_and_apply(
        client,
        db,
        tenant,
        "orders",
        {"orders": [order("9", "ann@x.co", opt_in_email=True, created_at="2099-01-01T00:00:00Z")]},
    )
    assert _contact(client, tenant, ann["id"])["subscriptions"]["email"]["status"] == "subscribed"
    post_and_apply(client, db, tenant, "contact", {"contact": {"email": "ann@x.co"}, "opt_ins": {"email": False}})
    post_and_apply(client, db, tenant, "contact", {"contact": {"email": "ann@x.co"}, "opt_ins": {"email": True}})
    detail = _contact(client, tenant, ann["id"])
    assert detail["subscriptions"]["email"]["status"] == "subscribed"
    assert [(h["subscribed"], h["via"]) for h in detail["consent_history"]] == [
        (True, "order.marketing_opt_ins"),
        (False, "unsubscribe_link"),
        (True, "order.marketing_opt_ins"),
        (False, "contact.opt_ins"),
        (True, "contact.opt_ins"),
    ]


def test_unticked_checkout_box_is_not_an_opt_out(client: TestClient, db: Database, tenant: Tenant) -> None:
    post_and_apply(client, db, tenant, "contact", {"contact": {"email": "ann@x.co"}, "opt_ins": {"email": True}})
    post_and_apply(client, db, tenant, "orders", {"orders": [order("1", "ann@x.co", opt_in_email=False)]})
    assert _contacts(client, tenant)[0]["subscriptions"]["email"]["status"] == "subscribed"


def test_national_numbers_are_read_in_the_organizations_region(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    london_number = order("1", phone="020 7946 0958")
    rejected = client.post("/v1/partners/orders", json={"orders": [london_number]}, headers=tenant.headers)
    assert rejected.status_code == 422  # not a possible number in the deployment's default region (US)
    assert rejected.json()["errors"][0]["field"] == "orders[0].customer.phone"

    from fanhub.organizations.models import Organization

    with db.write() as session:
        organization = session.get(Organization, tenant.organization_id)
        assert organization is not None
        organization.phone_region = "GB"
    post_and_apply(client, db, tenant, "orders", {"orders": [london_number, order("2", phone="+1 303 555 0101")]})
    assert sorted(c["phone"] for c in _contacts(client, tenant)) == ["+13035550101", "+442079460958"]


def test_plain_email_fast_path_accepts_only_what_email_validator_accepts() -> None:
    """The regex shortcut must never let through an address the full validation would refuse."""
    import random

    from email_validator import EmailNotValidError, validate_email

    from fanhub.addresses import _plainly_valid

    rng = random.Random(7)
    local_chars = "abcxyz019._-+!#$%&'*/=?^`{|}~"
    domain_chars = "abz09-."
    tlds = ["com", "io", "c", "x1", "test", "local", "arpa", "onion", "invalid", "localhost", "co", "museum"]
    candidates = [
        "fan1@example.com",
        "a@ab--cd.com",
        "a@xn--80ak6aa92e.com",
        "a..b@x.com",
        ".a@x.com",
        "a.@x.com",
        "a@-x.com",
        "a@x-.com",
        "a@x..com",
        "a@sub.x.local",
        "a@x.test",
        "a" * 65 + "@x.com",
        "a@" + "b" * 64 + ".com",
        "a@" + ".".join(["b" * 60] * 5) + ".com",
    ]
    for _ in range(30_000):
        local = "".join(rng.choice(local_chars) for _ in range(rng.randint(1, 8)))
        domain = "".join(rng.choice(domain_chars) for _ in range(rng.randint(1, 10)))
        candidates.append(f"{local}@{domain}.{rng.choice(tlds)}")
    fast = 0
    for email in candidates:
        if _plainly_valid(email):
            fast += 1
            try:
                validate_email(email, check_deliverability=False, allow_smtputf8=True)
            except EmailNotValidError as exc:  # pragma: no cover - the assertion below reports it
                raise AssertionError(f"fast path accepted {email!r}: {exc}") from None
    assert fast > 3_000  # the generator does reach the shortcut


def test_us_national_phone_shortcut_matches_phonenumbers() -> None:
    import random

    import phonenumbers

    from fanhub.addresses import _NANP_NATIONAL, _normalize_phone

    rng = random.Random(11)
    shapes = ["({a}) {b}-{c}", "{a}.{b}.{c}", "{a}{b}{c}", "{a}-{b}-{c}", "({a}){b}-{c}", "{a} {b} {c}"]
    checked = 0
    for _ in range(20_000):
        digits = "".join(rng.choice("0123456789") for _ in range(10))
        text = rng.choice(shapes).format(a=digits[:3], b=digits[3:6], c=digits[6:])
        if not _NANP_NATIONAL.fullmatch(text):
            continue
        checked += 1
        parsed = phonenumbers.parse(text, "US")
        assert phonenumbers.is_possible_number(parsed), text  # the full path would accept it too
        expected = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        assert _normalize_phone.__wrapped__(text, "US") == expected, text
    assert checked > 10_000


def test_unicode_and_punycode_spellings_of_one_address_are_one_contact(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    """IDNA: the domain is stored in its ASCII form; NFKC: full-width letters are the plain ones."""
    pairs = [
        ("user@bücher.de", "user@xn--bcher-kva.de", "user@xn--bcher-kva.de"),
        ("ａ@example.com", "a@example.com", "a@example.com"),
        ("Ｆａｎ＠ＢÜＣＨＥＲ．de", "fan@xn--bcher-kva.de", "fan@xn--bcher-kva.de"),
    ]
    for first, second, stored in pairs:
        for email, genre in ((first, "Rock"), (second, "Dance/Electronic")):
            body = {"contact": {"email": email, "genres": [genre]}, "opt_ins": {"email": True}}
            post_and_apply(client, db, tenant, "contact", body)
        (contact,) = _contacts(client, tenant, email=stored)
        assert contact["email"] == stored
        assert sorted(contact["genres"]) == ["Dance/Electronic", "Rock"]  # both posts reached this contact
        # Looking up either spelling finds it too.
        assert [c["id"] for c in _contacts(client, tenant, email=first)] == [contact["id"]]
    assert len(_contacts(client, tenant)) == len(pairs)


def test_email_normalisation_forms() -> None:
    from fanhub.addresses import normalize_email

    assert normalize_email(" User@BÜCHER.de ") == "user@xn--bcher-kva.de"
    assert normalize_email("ünï@bücher。de") == "ünï@xn--bcher-kva.de"  # ideographic full stop, Unicode local part
    assert normalize_email("ⓐ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "a@example.com"
    assert normalize_email("plain.fan@example.com") == "plain.fan@example.com"
