"""Deliverability: reading what happened to mail after it left (bounces, complaints, provider events).

Every route in (SMTP-time failures aside, which `campaigns.sending` records itself) produces the
same thing, a `reports.BounceReport` per failed recipient, and `apply` turns reports into
delivery failures, suppressions and, for complaints, an email unsubscribe through
`audience/consent.py`:
- `dsn`: classify one raw RFC 5322 message (DSN, ARF, the non-standard bounces real MTAs send);
- `mailbox`: read .eml files, folders, Maildirs, mboxes, and POP3/IMAP mailboxes;
- `providers/`: the event webhooks of Amazon SES (SNS), SendGrid, Mailgun and Postmark, verified.
"""
