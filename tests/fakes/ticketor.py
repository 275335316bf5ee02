"""Fake Ticketor: webhook payload builders plus a Basic-auth stand-in for ``https://{site}/api/1``.

Reproduces reference ``004`` (Ticketor "API Introduction" and "Webhooks") and
``notes/tickettailor_ticketor.md`` section B:

* The six webhook payloads, with the exact field names and example values from 004:
  New User, New Invoice (Sales), New Invoice (Sales) with Details, New Ticket Sale,
  New Merchandise Sale or Donation Collection, New Payment Received.  Ticketor POSTs the raw
  object as JSON – no envelope, type field, delivery id, timestamp or signature – so receivers
  must tell types apart by URL.  Money is major-unit decimals, dates ISO UTC with 2–7 fractional
  digits, ids are integers; the doc examples' oddities (``" John"`` with a leading space,
  ``EventName`` with a trailing space, ``Amount.Total: 1``) are preserved.
* API credentials ("API Credentials"): HTTP Basic auth with a site user's email and password;
  base URL ``https://{site-host}/api/1``; a per-site "Client ID / Company ID".  The docs name
  **no** concrete endpoint ("Check back as more APIs become available"), so the fake only models
  the auth layer: any request under ``/api/1/`` with wrong/missing credentials gets 401
  (``WWW-Authenticate: Basic``); with the right credentials it gets 404 (no such resource) –
  except ``GET /api/1/`` itself, which answers 200 ``{}`` so a connector has something to probe.
  Those bodies/paths are this fake's convention, not Ticketor's.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from ._server import FakeService, Route, json_response

__all__ = ["KINDS", "FakeTicketor", "build_payload"]

JSON = dict[str, Any]

_BUYER = {"Id": 12345, "FirstName": "John", "LastName": "Smith", "Email": "JohnSmith@email.com", "Phone": "1234567890"}
_SHIPPING = {
    "Status": "0",
    "Date": None,
    "Carrier": "",
    "TrackingNo": "",
    "Address": {
        "FirstName": "FirstName",
        "LastName": "LastName",
        "AddressLine1": "Address",
        "AddressLine2": "Address2",
        "City": "City",
        "State": "State",
        "Zipcode": "Zip",
        "Country": "Country",
        "Phone": "Phone",
        "CellPhone": "CellPhone",
        "Notes": "Notes",
    },
}
_AMOUNT = {
    "Total": 1,
    "Currency": "USD",
    "ServiceCharge": 0,
    "Tax": 0,
    "Tip": 0,
    "Discount": 0,
    "PromotionId": 0,
    "PromotionCode": "",
}
_PLATFORM_FEE = {"Fee": 0.03, "TicketProtectionFee": 0, "AdFee": 0, "PaymentProcessingFee": 0, "DeliveryFee": 0}

NEW_USER: JSON = {
    "Id": 123,
    "SignupDate": "2023-11-03T22:11:58.9951297Z",
    "FirstName": "John",
    "LastName": "Smith",
    "Email": "test@email.com",
    "Phone": "8100000000",
    "Mobile": "8100000000",
    "MailingListPermission": True,
    "SMSPermission": True,
}

NEW_INVOICE: JSON = {
    "Id": 26657,
    "Date": "2014-02-03T15:53:48.297Z",
    "InvoiceType": "Sale",
    "RelatedInvoiceId": 0,
    "ReturnStatus": "NotReturned",
    "Referrer": "",
    "Notes": "",
    "Amount": _AMOUNT,
    "PlatformFee": _PLATFORM_FEE,
    "Buyer": {"Id": 11708, "FirstName": "ZacXXXX", "LastName": "SmiXX", "Email": "11708@x.xxx", "Phone": ""},
    "Agent": {"Id": 11708, "FirstName": "ZacXXXX", "LastName": "SmiXX", "Email": "11708@x.xxx", "Phone": ""},
    "Shipping": _SHIPPING,
    "WillCall": {"Status": "0", "Date": None},
    "ProductsCount": 0,
    "TicketsCount": 1,
}

NEW_PAYMENT: JSON = {
    "Id": 16404,
    "ChargeMethod": "PRIOR_AUTH_CAPTURE",
    "Amount": 1,
    "Currency": "USD",
    "PaymentType": "Visa",
    "InvoiceId": 29951,
    "Description": "1 tickets for Testmerchantplus",
    "Date": "2014-04-11T13:34:17.53Z",
    "Card": {
        "CardNumber": "1111",
        "DueDate": None,
        "CardHolderName": "John Smith",
        "ExpirationMonth": 1,
        "ExpirationYear": 2015,
    },
    "DeductedAmountByPlatform": 0,
    "BillingAddress": {
        "FirstName": "John",
        "LastName": "Smith",
        "AddressLine1": "123 main st",
        "AddressLine2": "",
        "City": "Los Angeles",
        "State": "CA",
        "Zipcode": "00000",
        "Country": "United States",
        "Phone": "4500000000",
        "CellPhone": "4500000000",
    },
    "Success": True,
    "CashRegisterId": 0,
    "PaymentProcessorEventOrganizerId": 0,
    "Buyer": {
        "Id": 123,
        "FirstName": " John",
        "LastName": " Smith",
        "Email": "JohnSmith@Email.com",
        "Phone": "4500000000",
    },
}

NEW_TICKET_SALE: JSON = {
    "Id": 5997121,
    "InvoiceId": 26657,
    "Status": "sold",
    "Section": "a",
    "Row": "1",
    "Seat": 1,
    "BuyPrice": 10,
    "SellPrice": 10,
    "ServiceCharge": 0,
    "PriceLevelName": "VIP",
    "Barcode": "9971217295658",
    "ExpirationDate": "2200-01-01T08:00:00Z",
    "LastScannedAt": None,
    "DeliveryMethod": "Direct",
    "Event": {
        "EventId": 154112,
        "EventName": "Great Concert- Sunday May 31, 2020 at 08:00 PM ",
        "EventDate": "2020-06-01T03:00:00Z",
    },
    "Buyer": _BUYER,
}

NEW_MERCHANDISE_SALE: JSON = {
    "Id": 13778,
    "InvoiceId": 908515,
    "Product": {"ProductId": 10099, "ProductName": "T Shirt"},
    "Amount": 1,
    "ReturnedAmount": 0,
    "UnitPrice": 5,
    "Discount": 0,
    "Tax": 0,
    "options": "",
    "IsRecurringPurchase": False,
    "RecursInDays": 0,
    "DeliveryMethodId": 70,
    "DeliveryMethod": "Direct",
    "DeliveryFee": 0,
    "OrderStatus": "Completed",
    "Buyer": _BUYER,
}

NEW_INVOICE_WITH_DETAILS: JSON = {
    **NEW_INVOICE,
    "Buyer": _BUYER,
    "Agent": {"Id": 12345, "FirstName": "Mary", "LastName": "Doe", "Email": "Mary@email.com", "Phone": "2345678912"},
    "ProductsCount": 1,
    "TicketsCount": 1,
    "Payments": [{**NEW_PAYMENT, "InvoiceId": 26657}],
    "Tickets": [
        {
            "Id": 32785,
            "InvoiceId": 26657,
            "Status": "sold",
            "Section": "Balcony Right",
            "Row": "A",
            "Seat": 242,
            "BuyPrice": 23.75,
            "SellPrice": 25,
            "ServiceCharge": 1.25,
            "PriceLevelName": "",
            "Barcode": "278592011",
            "ExpirationDate": "2200-01-01T08:00:00Z",
            "LastScannedAt": None,
            "DeliveryMethod": "Will-Call (Venue pickup)",
            "Event": {
                "EventId": 257,
                "EventName": "Great Concert - Tuesday December 17, 2013 at 10:01 AM ",
                "EventDate": "2013-12-17T18:01:00Z",
            },
            "Buyer": _BUYER,
        }
    ],
    "Products": [{**NEW_MERCHANDISE_SALE, "InvoiceId": 26657}],
}

#: kind name -> doc example payload (the defaults of the builders)
KINDS: dict[str, JSON] = {
    "new_user": NEW_USER,
    "new_invoice": NEW_INVOICE,
    "new_invoice_with_details": NEW_INVOICE_WITH_DETAILS,
    "new_ticket_sale": NEW_TICKET_SALE,
    "new_merchandise_sale": NEW_MERCHANDISE_SALE,
    "new_payment": NEW_PAYMENT,
}


def _merge(base: Any, override: Any) -> Any:
    """Deep-merge dicts (override wins); lists and scalars are replaced wholesale."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = _merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(override)


def build_payload(kind: str, **overrides: Any) -> JSON:
    """Doc-example payload of ``kind`` (see ``KINDS``) deep-merged with ``overrides``.

    Example: ``build_payload("new_ticket_sale", Id=1, Buyer={"Email": "a@b.c"})`` keeps the other
    ``Buyer`` fields.  Lists (``Tickets``, ``Payments``, ``Products``) are replaced, not merged.
    """
    if kind not in KINDS:
        raise KeyError(f"unknown Ticketor webhook kind {kind!r}; one of {sorted(KINDS)}")
    return _merge(copy.deepcopy(KINDS[kind]), overrides)


class FakeTicketor(FakeService):
    """Fake Ticketor site.  Webhook helpers work without starting the server; start it
    (``with FakeTicketor() as tr:``) only when a connector needs to probe credentials.

    Attributes: ``username``, ``password``, ``client_id``, ``calls``, ``request_log``
    (``(method, path, basic-auth username or None)``), ``deliveries`` (``(url, kind, body)``).
    """

    def __init__(
        self, username: str = "api@fakevenue.example", password: str = "s3cret-pass", client_id: str = "1"
    ) -> None:
        self.username = username
        self.password = password
        self.client_id = client_id
        self.calls = 0
        self.request_log: list[tuple[str, str, str | None]] = []
        self.deliveries: list[tuple[str, str, JSON]] = []
        self._fail_queue: list[int] = []
        super().__init__()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/api/1`` – stands in for ``https://{site-host}/api/1``."""
        return f"{self.origin}/api/1"

    @property
    def site_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        with self.lock:
            self._fail_queue.extend([status] * n)

    # -- payload builders (one per documented webhook) ------------------------------------------
    @staticmethod
    def new_user(**overrides: Any) -> JSON:
        """ "New User": ``Id, SignupDate, FirstName, LastName, Email, Phone, Mobile,
        MailingListPermission, SMSPermission``."""
        return build_payload("new_user", **overrides)

    @staticmethod
    def new_invoice(**overrides: Any) -> JSON:
        """ "New Invoice (Sales)": invoice with ``Amount``, ``PlatformFee``, ``Buyer``, ``Agent``,
        ``Shipping``, ``WillCall``, counts."""
        return build_payload("new_invoice", **overrides)

    @staticmethod
    def new_invoice_with_details(**overrides: Any) -> JSON:
        """ "New Invoice (Sales) with Details": the invoice plus ``Payments[]``, ``Tickets[]``,
        ``Products[]``."""
        return build_payload("new_invoice_with_details", **overrides)

    @staticmethod
    def new_ticket_sale(**overrides: Any) -> JSON:
        """ "New Ticket Sale": one ticket with ``Event{EventId, EventName, EventDate}`` and ``Buyer``."""
        return build_payload("new_ticket_sale", **overrides)

    @staticmethod
    def new_merchandise_sale(**overrides: Any) -> JSON:
        """ "New Merchandise Sale or Donation Collection": ``Product{ProductId, ProductName}``,
        ``Amount`` (= quantity), ``UnitPrice``, ``OrderStatus``, ``Buyer``..."""
        return build_payload("new_merchandise_sale", **overrides)

    @staticmethod
    def new_payment(**overrides: Any) -> JSON:
        """ "New Payment Received": ``ChargeMethod, Amount, Currency, PaymentType, InvoiceId, Date,
        Card, BillingAddress, Success, Buyer``..."""
        return build_payload("new_payment", **overrides)

    def deliver(self, url: str, kind: str, *, timeout: float = 10.0, **overrides: Any) -> httpx.Response:
        """POST the ``kind`` payload (doc example + ``overrides``) to ``url`` as JSON, the way
        Ticketor does: raw object body, ``Content-Type: application/json``, no auth/signature."""
        body = build_payload(kind, **overrides)
        self.deliveries.append((url, kind, body))
        return httpx.post(url, json=body, timeout=timeout)

    # -- the auth-only API stand-in --------------------------------------------------------------
    def _routes(self) -> list[Route]:
        return [Route.make("GET", r"/api/1/?", self._h_root)]

    def _basic_user(self, request: Request) -> tuple[str | None, str | None]:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None, None
        try:
            user, _, pwd = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        return user, pwd

    def _dispatch(self, request: Request, route: Route | None, params: dict[str, str]) -> Response:
        self.calls += 1
        user, pwd = self._basic_user(request)
        self.request_log.append((request.method, request.url.path, user))
        if not request.url.path.startswith("/api/1"):
            return json_response({"Message": "Not found"}, 404)
        ok = (
            user is not None
            and pwd is not None
            and hmac.compare_digest(user.lower(), self.username.lower())
            and hmac.compare_digest(pwd, self.password)
        )
        if not ok:
            return json_response(
                {"Message": "Authorization has been denied for this request."},
                401,
                {"WWW-Authenticate": 'Basic realm="Ticketor"'},
            )
        if self._fail_queue:
            return json_response({"Message": "An error has occurred."}, self._fail_queue.pop(0))
        if route is None:
            return json_response({"Message": "No HTTP resource was found that matches the request URI."}, 404)
        return route.handler(request, **params)

    def _h_root(self, request: Request) -> Response:
        return json_response({})
