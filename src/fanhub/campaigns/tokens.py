"""Signed tracking tokens: opens, clicks and unsubscribes name a delivery (and a link) with an HMAC.

A token is `<purpose><delivery id>[.<link id>].<signature>` with ids in base 36 and a truncated
HMAC-SHA256 (keyed by the deployment secret, `fanhub.secrets`) over purpose and ids. They are short because SMS
bodies carry them; 80 bits of signature are far beyond what an online guesser can try.
A forged or altered token never verifies, so nobody can unsubscribe someone else or mint a
redirect; the click redirect additionally only goes to a URL stored as one of the campaign's links.

A preference-center token (`preference_token`, issue 21) names an organization and a contact
instead of a delivery: `p<organization id>.<contact id>.<signature>`. It does not expire (like the
unsubscribe link, it must still work in a months-old email), and changing either id breaks the
signature, so one person's link never opens another's page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from fanhub.secrets import deployment_secret

OPEN = "o"
CLICK = "c"
UNSUBSCRIBE = "u"
SMS_STATUS = "s"
PREFERENCES = "p"

_SIG_BYTES = 10


def _key() -> bytes:
    return _key_bytes(deployment_secret())


@lru_cache(maxsize=4)
def _key_bytes(secret: str) -> bytes:
    return secret.encode()


def _b36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if value == 0:
        return "0"
    out = ""
    while value:
        value, rem = divmod(value, 36)
        out = digits[rem] + out
    return out


def _signature(message: str) -> str:
    digest = hmac.new(_key(), message.encode(), hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make_token(purpose: str, delivery_id: int, link_id: int | None = None) -> str:
    body = purpose + _b36(delivery_id) + ("." + _b36(link_id) if link_id is not None else "")
    return body + "." + _signature(body)


def read_token(token: str, purpose: str) -> tuple[int, int | None] | None:
    """(delivery id, link id or None) when the token is authentic and for `purpose`, else None."""
    if not token.startswith(purpose) or len(token) > 80:
        return None
    body, _, signature = token.rpartition(".")
    if not body or not hmac.compare_digest(signature, _signature(body)):
        return None
    parts = body[len(purpose) :].split(".")
    try:
        ids = [int(p, 36) for p in parts]
    except ValueError:
        return None
    if len(ids) == 1:
        return ids[0], None
    if len(ids) == 2:
        return ids[0], ids[1]
    return None


def preference_token(organization_id: int, contact_id: int) -> str:
    """The signed part of a contact's preference-center URL (`/p/<token>`)."""
    return make_token(PREFERENCES, organization_id, contact_id)


def read_preference_token(token: str) -> tuple[int, int] | None:
    """(organization id, contact id) of an authentic preference-center token, else None."""
    parsed = read_token(token, PREFERENCES)
    if parsed is None or parsed[1] is None:
        return None
    return parsed[0], parsed[1]
