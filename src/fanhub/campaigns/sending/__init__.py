"""Sending: email over SMTP (or an .eml outbox), SMS over a Twilio-compatible API (or an outbox file).

A pipeline, after listmonk's manager:
- `scheduler`: what the worker runs (due campaigns start; sending campaigns take turns, a slice each);
- `pipe`: one campaign's slice: reserve recipients, build, claim, push, record, at the rate limits;
- `message`: one recipient's message (MIME, unsubscribe headers, tracked links, SMS status callback);
- `transport`: where messages go (`push(message)`, `close()`): SMTP, Twilio-compatible SMS, outboxes;
- `deliveries`: every statement on `campaign_deliveries` while sending (the only delivery SQL).

## Resumable, at-most-once sending

A campaign that starts sending gets one `Delivery` row per recipient (`pending`), created in one
`INSERT ... SELECT` from its segment, so the recipient list is fixed at that moment. A worker then
sends it slice by slice:

1. reserve: up to `campaign_batch_size` pending rows become `reserved` by this worker (committed;
   `FOR UPDATE SKIP LOCKED` on PostgreSQL so several workers share a campaign);
2. per message, one transaction marks the previous message's outcome and claims this one as
   `sending` (committed BEFORE the provider call);
3. the provider call; its outcome (`sent` / `failed`) is written by the next message's
   transaction, or by the slice's last one.

After a crash, rows still `reserved` were never handed to a provider and go back to `pending`
(no skip). A row left `sending` was in the provider's hands at the moment of the crash and may or
may not have gone out: it becomes `unknown` and is NOT retried. This is the at-most-once choice:
a marketing message sent twice to a fan costs trust (and, for SMS, money and carrier complaints),
while one possibly-missing message per crashed worker is an acceptable, visible loss
(`CampaignStats.unknown`). The window is the messages in flight, at most
`campaign_send_connections` per worker (each on its own provider connection), never a slice.

Durability: the per-message commits are made without waiting for the disk (SQLite WAL with
`synchronous=NORMAL`, PostgreSQL `synchronous_commit=off`, for the sender's connection only; on
PostgreSQL the usual mark-and-claim is one autocommitted UPDATE, a single round trip).
They survive the sender process dying, the crash this design is about; only an operating-system
crash or power loss can lose the last few commits, and then those messages may go out twice.
Waiting for an fsync per message would cost several times the SMTP exchange itself.

Rows are stale when their worker's lease (`LEASE_SECONDS`) ran out, or at once when the worker
was a process on this host that no longer exists.

A provider that is down (connection refused, 4xx "try later", HTTP 429/5xx) did not take the
message: it goes back to `pending` (after `MAX_ATTEMPTS` it fails) and the slice stops, to be
retried on the worker's next round. A contact who unsubscribed after the campaign started is
`skipped` when their turn comes.

## Failures, deferrals, suppression
An SMTP 5xx at MAIL/RCPT/DATA, or a 4xx from the SMS API, is a permanent failure: the delivery is
`failed`, a `DeliveryFailure` row keeps the code and text, and `num_undelivered` counts it; the
`on_rejected` hook (wired to `deliverability.apply`) classifies it and suppresses the address.
SMS status callbacks reporting `undelivered`/`failed` do the same later (`campaigns.tracking`).
An SMTP 4xx for one recipient (not 421) is `deferred`: retried at `next_attempt_at` with
exponential backoff (`retry_delay`) until `DEFER_HOURS` after the first deferral, then it fails
as a soft bounce. Asynchronous bounces and complaints (DSNs to the VERP envelope sender, provider
webhooks) are read by `fanhub.deliverability`. Addresses on the suppression list never become
deliveries (`CampaignStats.suppressed`); one suppressed while the campaign sends is `skipped`.

Every email is traceable (`trace`): a Message-ID per delivery, a VERP envelope sender when
`FANHUB_BOUNCE_ADDRESS` is set, and the metadata headers SES, SendGrid, Mailgun and Postmark echo.

## Rate limits
Per campaign: `CampaignStats.send_per_second`, else `FANHUB_CAMPAIGN_SEND_PER_SECOND` (0 = no
limit). Per provider: `FANHUB_SMTP_PER_SECOND` / `FANHUB_SMS_PER_SECOND` (0 = no limit; in
`fanhub.config.Settings`), shared by every campaign sending in this worker process. Both pace
messages evenly by sleeping the sender.
"""

from fanhub.campaigns.sending.deliveries import LEASE_SECONDS, WORKER_ID, recover_stale
from fanhub.campaigns.sending.message import LinkBook, MessageBuilder, build_email
from fanhub.campaigns.sending.pipe import MAX_ATTEMPTS, RateLimiter, SliceResult, Transports, new_lanes, send_slice
from fanhub.campaigns.sending.scheduler import run_campaign, send_turn, start_due, start_sending
from fanhub.campaigns.sending.transport import (
    Ambiguous,
    Deferred,
    EmailTransport,
    Message,
    OutboxEmailTransport,
    OutboxSmsTransport,
    Rejected,
    SmtpTransport,
    Transport,
    TryLater,
    TwilioTransport,
    email_transport,
    sms_transport,
)

__all__ = [
    "LEASE_SECONDS",
    "MAX_ATTEMPTS",
    "WORKER_ID",
    "Ambiguous",
    "Deferred",
    "EmailTransport",
    "LinkBook",
    "Message",
    "MessageBuilder",
    "OutboxEmailTransport",
    "OutboxSmsTransport",
    "RateLimiter",
    "Rejected",
    "SliceResult",
    "SmtpTransport",
    "Transport",
    "Transports",
    "TryLater",
    "TwilioTransport",
    "build_email",
    "email_transport",
    "new_lanes",
    "recover_stale",
    "run_campaign",
    "send_slice",
    "send_turn",
    "sms_transport",
    "start_due",
    "start_sending",
]
