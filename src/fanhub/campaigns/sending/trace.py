"""What makes every email traceable after it left: the VERP envelope sender and the provider
metadata headers, all carrying the delivery's signed token.

- VERP: with `FANHUB_BOUNCE_ADDRESS=bounces@mail.venue.example`, a delivery's envelope sender is
  `bounces+<token>@mail.venue.example`, so a DSN coming back names its delivery whatever recipient
  it reports (forwarding, aliases);
- metadata: SendGrid (`X-SMTPAPI` unique args), Mailgun (`X-Mailgun-Variables`), Postmark
  (`X-PM-Metadata-*`) and Amazon SES (`X-SES-MESSAGE-TAGS`) echo these back in their event
  webhooks. Every email carries all four, whatever the relay, so switching providers needs no resend.

The token is `campaigns.tokens`' HMAC-signed form (purpose `b`), lowercase-safe because some MTAs
lowercase local parts: a forged DSN cannot name a delivery it did not receive.
"""

from __future__ import annotations

import re

from fanhub.campaigns import tokens

BOUNCE = "b"
METADATA_KEY = "fanhub_delivery"


def delivery_token(delivery_id: int) -> str:
    # Signatures are urlsafe base64 (mixed case); hex-encode them so a lowercasing MTA keeps them intact.
    token = tokens.make_token(BOUNCE, delivery_id)
    body, _, signature = token.rpartition(".")
    return f"{body}-{signature.encode().hex()}"


def read_delivery_token(token: str | None) -> int | None:
    """The delivery id of an authentic token, else None."""
    if not token or len(token) > 120:
        return None
    body, _, hex_signature = token.strip().lower().rpartition("-")
    try:
        signature = bytes.fromhex(hex_signature).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    found = tokens.read_token(f"{body}.{signature}", BOUNCE)
    return found[0] if found else None


def verp_sender(bounce_address: str | None, token: str, fallback: str) -> str:
    """The envelope sender for the delivery `token` names (`fallback` when no bounce address is configured)."""
    if not bounce_address or "@" not in bounce_address:
        return fallback
    local, _, domain = bounce_address.rpartition("@")
    return f"{local.partition('+')[0]}+{token}@{domain}"


_SAFE = re.compile(r"^[a-z0-9.\-]+$")


def metadata_headers(token: str, campaign_id: int) -> list[str]:
    """The four providers' metadata headers for the delivery `token` names."""
    assert _SAFE.match(token), token  # goes into headers unquoted
    variables = f'{{"{METADATA_KEY}":"{token}","fanhub_campaign":"{campaign_id}"}}'
    return [
        f'X-SMTPAPI: {{"unique_args":{variables}}}',
        f"X-Mailgun-Variables: {variables}",
        f"X-PM-Metadata-{METADATA_KEY}: {token}",
        f"X-SES-MESSAGE-TAGS: {METADATA_KEY}={token}, fanhub_campaign={campaign_id}",
    ]
