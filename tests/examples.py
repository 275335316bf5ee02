"""The Partners API documents' example payloads, verbatim (reference/000 and 001)."""

from __future__ import annotations

import copy
from typing import Any

EVENTS: dict[str, Any] = {
    "events": [
        {
            "id": "12345",
            "url": "https://bellyupaspen.com/head-and-the-heart/tickets",
            "name": "The Head & The Heart",
            "image_url": "https://bellyupaspen.com/wp-content/uploads/2023/08/THATH_960x540_See.jpg",
            "description": "Head & the Heart performing live at the Belly Up Aspen.",
            "tags": ["Folk", "Accoustic"],
            "status": "live",
            "start_datetime": "2024-03-02T15:30:00Z",
            "end_datetime": "2024-03-02T18:00:00Z",
            "doors_open_datetime": "2024-03-02T14:30:00Z",
            "location": {"name": "Belly Up Aspen", "address": "450 S Galena St, Aspen, CO 81611"},
            "performers": ["The Head & The Heart"],
            "ticket_types": [
                {
                    "name": "Standard Admission",
                    "prefee_price": 30.00,
                    "total_price": 40.00,
                    "currency_code": "USD",
                    "quantity": 150,
                }
            ],
        }
    ]
}

ORDERS: dict[str, Any] = {
    "orders": [
        {
            "id": "12345",
            "event_id": "12345",
            "customer": {
                "email": "john.smith@cymbal.co",
                "phone": "12345678900",
                "first_name": "John",
                "last_name": "Smith",
                "address": "123 Main Street, San Francisco, CA, 94110",
                "ip_address": "216.24.84.248",
            },
            "marketing_opt_ins": {"email": True, "sms": False},
            "items": [
                {
                    "ticket_type_name": "Standard Admission",
                    "quantity": 2,
                    "prefee_price": 60.00,
                    "total_price": 80.00,
                    "currency_code": "USD",
                }
            ],
            "created_at": "2024-03-02T15:30:00Z",
        }
    ]
}

# `opt_ins` in the docs reads `true | false | null`; each test picks one.
CONTACT: dict[str, Any] = {
    "contact": {
        "full_name": "John Smith",
        "first_name": "John",
        "last_name": "Smith",
        "email": "john.smith@cymbal.co",
        "phone": "+19594746360",
        "list_id": 1,
        "tags": ["Tag 1", "Tag 2"],
        "genres": ["Rock", "Dance/Electronic"],
    },
    "opt_ins": {"email": True, "sms": None},
    "interested_in_event": {"event_id": "123456", "ticketer": "eventbrite"},
}

SUBSCRIBE: dict[str, Any] = {
    "contact": {
        "full_name": "John Smith",
        "first_name": "John",
        "last_name": "Smith",
        "email": "john.smith@cymbal.co",
        "phone": "+19594746360",
        "tags": ["Tag 1", "Tag 2"],
        "genres": ["Rock", "Dance/Electronic"],
    },
    "ticket_url": "https://www.ticketmaster.com/e/12345678",
}


def fresh(example: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(example)


def order(
    order_id: str,
    email: str | None = None,
    phone: str | None = None,
    *,
    event_id: str = "12345",
    total: float = 40.0,
    quantity: int = 1,
    opt_in_email: bool | None = False,
    created_at: str = "2024-03-02T15:30:00Z",
    **extra: Any,
) -> dict[str, Any]:
    customer = {k: v for k, v in (("email", email), ("phone", phone)) if v is not None}
    return {
        "id": order_id,
        "event_id": event_id,
        "customer": customer,
        "marketing_opt_ins": {"email": opt_in_email, "sms": None},
        "items": [{"ticket_type_name": "GA", "quantity": quantity, "total_price": total}],
        "created_at": created_at,
        **extra,
    }
