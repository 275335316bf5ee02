"""Prove the fakes behave as documented (auth, pagination, rate limits, faults, webhooks)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from ._server import RecordingReceiver
from .eventbrite import FakeEventbrite
from .ticketor import KINDS, FakeTicketor
from .tickettailor import SIGNATURE_HEADER, FakeTicketTailor

EB_TOKEN = "eb-test-token"
TT_KEY = "sk_1000_1000_VGlja2V0VGFpbG9y"


# ----------------------------------------------------------------------------------------------
# Eventbrite
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def eb() -> Iterator[FakeEventbrite]:
    fake = FakeEventbrite(token=EB_TOKEN)
    with fake:
        yield fake


def _eb_client(fake: FakeEventbrite) -> httpx.Client:
    return httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bearer {EB_TOKEN}"})


def test_eventbrite_auth(eb: FakeEventbrite) -> None:
    r = httpx.get(f"{eb.base_url}/users/me/")
    assert r.status_code == 401 and r.json()["error"] == "NO_AUTH"
    r = httpx.get(f"{eb.base_url}/users/me/", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json() == {
        "status_code": 401,
        "error": "INVALID_AUTH",
        "error_description": "The OAuth token you provided was invalid.",
    }
    assert httpx.get(f"{eb.base_url}/users/me/", params={"token": EB_TOKEN}).status_code == 200
    with _eb_client(eb) as c:
        me = c.get("/users/me/").json()
        assert me["emails"][0]["verified"] is True
        assert c.get("/users/me").status_code == 404  # trailing slash is mandatory
    assert eb.calls == 5


def test_eventbrite_order_pagination_and_filters(eb: FakeEventbrite) -> None:
    org = eb.add_organization("Org")["id"]
    event = eb.add_event("Show", organization_id=org)
    ids = [eb.add_order(event["id"], email=f"f{i}@example.com")["id"] for i in range(120)]
    eb.update_order(ids[0], status="refunded")
    with _eb_client(eb) as c:
        seen: list[str] = []
        params: dict[str, str] = {"status": "both"}
        pages = []
        while True:
            body = c.get(f"/organizations/{org}/orders/", params=params).json()
            pages.append(body["pagination"])
            seen += [o["id"] for o in body["orders"]]
            if not body["pagination"]["has_more_items"]:
                break
            params["continuation"] = body["pagination"]["continuation"]
        assert set(pages[0]) == {
            "object_count",
            "page_number",
            "page_size",
            "page_count",
            "continuation",
            "has_more_items",
        }
        assert [p["page_number"] for p in pages] == [1, 2, 3]
        assert pages[0]["page_size"] == 50 and pages[0]["page_count"] == 3
        assert sorted(seen) == sorted(ids) and seen[-1] == ids[0]  # sorted by `changed`
        # the last continuation token returns an empty list
        params["continuation"] = pages[-1]["continuation"]
        assert c.get(f"/organizations/{org}/orders/", params=params).json()["orders"] == []
        bad = c.get(f"/organizations/{org}/orders/", params={"continuation": "garbage"})
        assert bad.status_code == 400 and bad.json()["error"] == "BAD_CONTINUATION_TOKEN"

        # default status=active hides the refunded order
        active = c.get(f"/organizations/{org}/orders/").json()
        assert active["pagination"]["object_count"] == 119
        # changed_since filters on `changed`
        since = c.get(f"/orders/{ids[0]}/").json()["changed"]
        recent = c.get(f"/organizations/{org}/orders/", params={"status": "both", "changed_since": since}).json()
        assert [o["id"] for o in recent["orders"]] == [ids[0]]
        # expansions appear only when asked for
        plain = recent["orders"][0]
        assert "attendees" not in plain and "contact_list_preferences" not in plain
        full = c.get(f"/orders/{ids[0]}/", params={"expand": "attendees,contact_list_preferences,event"})
        order = full.json()
        assert order["status"] == "refunded" and order["attendees"][0]["refunded"] is True
        assert order["contact_list_preferences"] == {
            "_type": "order_contact_list_preferences",
            "has_contact_list": False,
            "has_opted_in": False,
        }
        assert order["event"]["name"]["text"] == "Show"
        assert order["costs"]["gross"] == {
            "currency": "USD",
            "value": 2750,
            "major_value": "27.50",
            "display": "27.50 USD",
        }


def test_eventbrite_events_venue_and_expand(eb: FakeEventbrite) -> None:
    org = eb.add_organization()["id"]
    venue = eb.add_venue("Hall", organization_id=org)
    ev = eb.add_event(
        "Gig",
        organization_id=org,
        venue_id=venue["id"],
        start="2025-03-01T02:00:00Z",
        timezone="America/Los_Angeles",
        logo_url=None,
    )
    eb.add_event("Draft", organization_id=org, status="draft")
    with _eb_client(eb) as c:
        live = c.get(f"/organizations/{org}/events/", params={"status": "live"}).json()
        assert [e["id"] for e in live["events"]] == [ev["id"]]
        got = live["events"][0]
        assert got["start"] == {
            "timezone": "America/Los_Angeles",
            "local": "2025-02-28T18:00:00",
            "utc": "2025-03-01T02:00:00Z",
        }
        assert got["logo"] is None and "venue" not in got
        expanded = c.get(f"/events/{ev['id']}/", params={"expand": "venue"}).json()
        assert expanded["venue"]["name"] == "Hall"
        assert c.get(f"/venues/{venue['id']}/").json()["address"]["country"] == "US"
        tcs = c.get(f"/events/{ev['id']}/ticket_classes/").json()["ticket_classes"]
        assert tcs[0]["name"] == "General Admission"


def test_eventbrite_rate_limit_and_faults(eb: FakeEventbrite) -> None:
    org = eb.add_organization()["id"]
    ev = eb.add_event(organization_id=org)
    order = eb.add_order(ev["id"])
    with _eb_client(eb) as c:
        eb.fail_next(1, status=503)
        r = c.get("/users/me/")
        assert r.status_code == 503 and r.json()["error"] == "INTERNAL_ERROR"
        eb.fail_next(1, status=403, html=True)
        assert c.get("/users/me/").headers["content-type"].startswith("text/html")

        eb.expansion_failed_next(1)
        r = c.get(f"/orders/{order['id']}/", params={"expand": "attendees"})
        assert r.status_code == 500 and r.json()["error"] == "EXPANSION_FAILED"
        assert c.get(f"/orders/{order['id']}/").status_code == 200  # no expand: unaffected

        eb.hide_for(order["id"], 2)
        assert [c.get(f"/orders/{order['id']}/").status_code for _ in range(3)] == [404, 404, 200]

        eb.calls_per_hour = 2
        eb.reset_rate_limit()
        codes = [c.get("/users/me/").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert c.get("/users/me/").json() == {
            "status_code": 429,
            "error": "HIT_RATE_LIMIT",
            "error_description": "Hourly rate limit has been reached for this token. "
            "Default rate limits are 2,000 calls per hour.",
        }
        assert eb.rate_limited == 2


def test_eventbrite_webhooks(eb: FakeEventbrite) -> None:
    org = eb.add_organization()["id"]
    ev = eb.add_event(organization_id=org)
    order = eb.add_order(ev["id"])
    with RecordingReceiver() as rx, _eb_client(eb) as c:
        hook_url = f"{rx.url}/hooks/eventbrite/secret-token"
        created = c.post(
            f"/organizations/{org}/webhooks/", json={"endpoint_url": hook_url, "actions": "order.placed,order.updated"}
        )
        assert created.status_code == 200
        hook = created.json()
        assert hook["actions"] == ["order.placed", "order.updated"] and hook["event_id"] is None
        listed = c.get(f"/organizations/{org}/webhooks/").json()["webhooks"]
        assert [h["id"] for h in listed] == [hook["id"]]

        resp = eb.deliver_webhook(hook_url, "order.placed", order["id"])
        assert resp.status_code == 200
        _, path, headers, raw = rx.requests[0]
        body = json.loads(raw)
        assert body == {
            "api_url": f"{eb.base_url}/orders/{order['id']}/",
            "config": {"action": "order.placed", "user_id": org, "endpoint_url": hook_url, "webhook_id": hook["id"]},
        }
        # the api_url is fetchable on the fake
        assert c.get(body["api_url"]).json()["id"] == order["id"]


def test_eventbrite_generate_is_fast() -> None:
    fake = FakeEventbrite()
    t0 = time.perf_counter()
    info = fake.generate(events=200, orders=100_000, seed=1)
    assert time.perf_counter() - t0 < 10
    assert len(fake.orders) == 100_000 and len(info["event_ids"]) == 200
    again = FakeEventbrite()
    again.generate(events=20, orders=1000, seed=1)
    small = FakeEventbrite()
    small.generate(events=20, orders=1000, seed=1)
    assert again.orders == small.orders  # deterministic
    with fake, _eb_client(fake) as c:
        t0 = time.perf_counter()
        body = c.get(f"/organizations/{info['organization_id']}/orders/", params={"status": "both"}).json()
        assert body["pagination"]["object_count"] == 100_000
        nxt = c.get(
            f"/organizations/{info['organization_id']}/orders/",
            params={"status": "both", "continuation": body["pagination"]["continuation"]},
        )
        assert nxt.json()["pagination"]["page_number"] == 2
        assert time.perf_counter() - t0 < 5


# ----------------------------------------------------------------------------------------------
# Ticket Tailor
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def tt() -> Iterator[FakeTicketTailor]:
    with FakeTicketTailor(api_key=TT_KEY) as fake:
        yield fake


def _tt_client(fake: FakeTicketTailor) -> httpx.Client:
    return httpx.Client(base_url=fake.base_url, auth=(TT_KEY, ""), headers={"Accept": "application/json"})


def test_tickettailor_auth_and_ping(tt: FakeTicketTailor) -> None:
    r = httpx.get(f"{tt.base_url}/v1/ping", auth=("sk_wrong", ""))
    assert r.status_code == 401
    assert r.json() == {
        "status": 401,
        "error_code": "Unauthorized",
        "message": "Your request was not authenticated correctly.",
    }
    assert httpx.get(f"{tt.base_url}/v1/ping").status_code == 401
    with _tt_client(tt) as c:
        r = c.get("/v1/ping")
        assert r.json() == {"version": "pong"}
        assert r.headers["X-Rate-Limit-Limit"] == "2000"
        assert r.headers["X-Rate-Limit-Remaining"] == "1999"
        assert int(r.headers["X-Rate-Limit-Reset"]) > 0


def test_tickettailor_order_cursor_pagination(tt: FakeTicketTailor) -> None:
    ev = tt.add_event("Gig")
    other = tt.add_event("Other")
    ids = [tt.add_order(ev["id"], created_at=1_700_000_000 + i)["id"] for i in range(250)]
    tt.add_order(other["id"], created_at=1_700_000_000)
    with _tt_client(tt) as c:
        params = {"event_id": ev["id"], "created_at.gte": "1700000010", "limit": "100"}
        first = c.get("/v1/orders", params=params).json()
        assert len(first["data"]) == 100 and first["links"]["previous"] is None
        assert first["data"][0]["id"] == ids[-1]  # reverse chronological
        # live quirk: no /v1 prefix and dotted filters rewritten
        assert first["links"]["next"].startswith("/orders?")
        assert "created_at_gte=1700000010" in first["links"]["next"]
        seen = [o["id"] for o in first["data"]]
        after = seen[-1]
        while True:
            page = c.get("/v1/orders", params={**params, "starting_after": after}).json()
            seen += [o["id"] for o in page["data"]]
            if page["links"]["next"] is None:
                break
            after = page["data"][-1]["id"]
        assert seen == list(reversed(ids[10:]))
        back = c.get("/v1/orders", params={**params, "ending_before": ids[100], "limit": "5"}).json()
        assert [o["id"] for o in back["data"]] == list(reversed(ids[101:106]))
        assert c.get("/v1/orders", params={"limit": "500"}).json()["data"].__len__() == 100
        o = c.get(f"/v1/orders/{ids[0]}").json()
        assert o["currency"] == {"base_multiplier": 100, "code": "gbp"}
        assert o["buyer_details"]["first_name"] == "Ada" and o["marketing_opt_in"] is None
        assert o["line_items"][0]["total"] == 1500 and o["issued_tickets"][0]["status"] == "valid"
        assert set(o["event_summary"]["start_date"]) == {"date", "formatted", "iso", "time", "timezone", "unix"}
    tt.links_style = "documented"
    with _tt_client(tt) as c:
        nxt = c.get("/v1/orders", params={"limit": "1"}).json()["links"]["next"]
        assert nxt.startswith("/v1/orders?") and "starting_after=" in nxt


def test_tickettailor_cancel_and_events(tt: FakeTicketTailor) -> None:
    ev = tt.add_event("Gig", start="2025-06-01T18:00:00Z")
    order = tt.add_order(ev["id"], quantity=2, marketing_opt_in=True)
    cancelled = tt.cancel_order(order["id"])
    assert cancelled["status"] == "cancelled" and cancelled["refund_amount"] == 3000
    assert {t["status"] for t in cancelled["issued_tickets"]} == {"voided"}
    with _tt_client(tt) as c:
        events = c.get("/v1/events", params={"start_at.gte": "1748000000"}).json()["data"]
        assert events[0]["start"]["iso"] == "2025-06-01T19:00:00+01:00"
        assert events[0]["start"]["timezone"] == "+01:00" and events[0]["hidden"] == "false"
        voided = c.get("/v1/issued_tickets", params={"status": "voided"}).json()["data"]
        assert len(voided) == 2


def test_tickettailor_rate_limit_and_faults() -> None:
    with FakeTicketTailor(api_key=TT_KEY, rate_limit=3, rate_window_seconds=1.0) as fake, _tt_client(fake) as c:
        fake.fail_next(1, status=502)
        assert c.get("/v1/ping").status_code == 502
        codes = [c.get("/v1/ping").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = c.get("/v1/ping")
        assert r.status_code == 429 and r.json()["error_code"] == "Too Many Requests"
        assert r.headers["Retry-After"] == "1" and r.headers["X-Rate-Limit-Remaining"] == "0"
        assert fake.rate_limited == 2
        time.sleep(float(r.headers["Retry-After"]) + 0.05)
        assert c.get("/v1/ping").status_code == 200


def test_tickettailor_signed_webhook(tt: FakeTicketTailor) -> None:
    ev = tt.add_event()
    order = tt.add_order(ev["id"])
    headers, raw = tt.signed_delivery("ABCD123", "ORDER.CREATED", order["id"], timestamp=1723730497)
    t_part, v_part = headers[SIGNATURE_HEADER].split(",")
    ts = t_part.split("=")[1]
    assert t_part == "t=1723730497" and v_part.startswith("v1=")
    expected = hmac.new(b"ABCD123", ts.encode() + raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(v_part.split("=")[1], expected)
    body = json.loads(raw)
    assert set(body) == {"id", "created_at", "event", "resource_url", "payload"}
    assert body["payload"]["id"] == order["id"] and body["created_at"] == "2024-08-15 14:01:37"
    assert body["resource_url"] == f"{tt.base_url}/v1/orders/{order['id']}"
    tampered = raw.replace(b"Ada", b"Eve")
    assert hmac.new(b"ABCD123", ts.encode() + tampered, hashlib.sha256).hexdigest() != expected
    with RecordingReceiver() as rx:
        resp = tt.deliver(f"{rx.url}/hooks/tt", "ABCD123", "ORDER.UPDATED", order["id"])
        assert resp.status_code == 200
        _, _, got_headers, got_raw = rx.requests[0]
        sig = got_headers[SIGNATURE_HEADER.lower()]
        t = sig.split(",")[0].split("=")[1]
        assert abs(int(t) - time.time()) < 60
        want = hmac.new(b"ABCD123", t.encode() + got_raw, hashlib.sha256).hexdigest()
        assert sig.split(",")[1] == f"v1={want}"


def test_tickettailor_generate() -> None:
    fake = FakeTicketTailor(api_key=TT_KEY)
    t0 = time.perf_counter()
    fake.generate(events=30, orders=20_000, seed=3)
    assert time.perf_counter() - t0 < 10
    with fake, _tt_client(fake) as c:
        page = c.get("/v1/orders").json()
        assert len(page["data"]) == 100 and page["links"]["next"]
        assert {o["marketing_opt_in"] for o in page["data"]} <= {True, False, None}


# ----------------------------------------------------------------------------------------------
# Ticketor
# ----------------------------------------------------------------------------------------------
def test_ticketor_payloads_match_docs() -> None:
    assert set(KINDS) == {
        "new_user",
        "new_invoice",
        "new_invoice_with_details",
        "new_ticket_sale",
        "new_merchandise_sale",
        "new_payment",
    }
    user = FakeTicketor.new_user(Email="fan@example.com")
    assert set(user) == {
        "Id",
        "SignupDate",
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "Mobile",
        "MailingListPermission",
        "SMSPermission",
    }
    assert user["Email"] == "fan@example.com" and user["SMSPermission"] is True
    detailed = FakeTicketor.new_invoice_with_details(Buyer={"Email": "b@example.com"})
    assert detailed["Buyer"] == {
        "Id": 12345,
        "FirstName": "John",
        "LastName": "Smith",
        "Email": "b@example.com",
        "Phone": "1234567890",
    }
    assert {"Payments", "Tickets", "Products"} <= set(detailed)
    assert detailed["Tickets"][0]["Event"]["EventName"].endswith("AM ")
    assert set(FakeTicketor.new_invoice()) == set(detailed) - {"Payments", "Tickets", "Products"}
    sale = FakeTicketor.new_ticket_sale()
    assert sale["Event"] == {
        "EventId": 154112,
        "EventName": "Great Concert- Sunday May 31, 2020 at 08:00 PM ",
        "EventDate": "2020-06-01T03:00:00Z",
    }
    assert FakeTicketor.new_merchandise_sale()["Product"] == {"ProductId": 10099, "ProductName": "T Shirt"}
    assert FakeTicketor.new_payment()["Buyer"]["FirstName"] == " John"
    # builders never share state
    FakeTicketor.new_ticket_sale()["Buyer"]["Email"] = "mutated"
    assert FakeTicketor.new_ticket_sale()["Buyer"]["Email"] == "JohnSmith@email.com"


def test_ticketor_delivery_and_credentials() -> None:
    tr = FakeTicketor(username="admin@venue.example", password="pw")
    with RecordingReceiver() as rx:
        resp = tr.deliver(f"{rx.url}/hooks/ticketor/tickets", "new_ticket_sale", Id=1)
        assert resp.status_code == 200
        _, path, headers, raw = rx.requests[0]
        assert path == "/hooks/ticketor/tickets" and headers["content-type"] == "application/json"
        assert json.loads(raw)["Id"] == 1
    with tr:
        assert httpx.get(f"{tr.base_url}/", auth=("admin@venue.example", "wrong")).status_code == 401
        assert httpx.get(f"{tr.base_url}/").headers["www-authenticate"].startswith("Basic")
        assert httpx.get(f"{tr.base_url}/", auth=("admin@venue.example", "pw")).status_code == 200
        assert httpx.get(f"{tr.base_url}/events", auth=("admin@venue.example", "pw")).status_code == 404
        assert tr.request_log[-1] == ("GET", "/api/1/events", "admin@venue.example")
