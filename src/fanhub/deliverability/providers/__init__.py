"""Email provider event webhooks, verified the way each provider signs and read into `BounceReport`s.

`PROVIDERS[name](headers, body, settings, now)` for name in ses, sendgrid, mailgun, postmark returns
a `ProviderResult` (reports, a `replay_key` to store once, and for SNS a `subscribe_url` to GET) or
raises `WebhookRejected(status_code, message)`. Pure code: no database, no replay state here; the
only I/O is fetching (and caching) an SNS signing certificate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from fanhub.deliverability.providers import mailgun, postmark, sendgrid, ses
from fanhub.deliverability.providers.base import ProviderResult, ProviderSettings, WebhookRejected

Verifier = Callable[[Mapping[str, str], bytes, ProviderSettings, datetime], ProviderResult]

PROVIDERS: dict[str, Verifier] = {
    "ses": ses.verify_and_parse,
    "sendgrid": sendgrid.verify_and_parse,
    "mailgun": mailgun.verify_and_parse,
    "postmark": postmark.verify_and_parse,
}

__all__ = ["PROVIDERS", "ProviderResult", "ProviderSettings", "Verifier", "WebhookRejected"]
