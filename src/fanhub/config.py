"""Settings for every fanhub process, read from `FANHUB_*` environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite:///./fanhub.db"
# Amazon SNS signing certificates live at https://sns.<region>.amazonaws.com[.cn]/<name>.pem.
DEFAULT_SNS_CERT_URL_PATTERN = r"https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[A-Za-z0-9._-]+\.pem"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FANHUB_", extra="ignore")

    database_url: str = DEFAULT_SQLITE_URL
    # FULL makes every acknowledged batch survive power loss, not only a killed process.
    sqlite_synchronous: str = "FULL"
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = None

    # HTTP connections (`fanhub serve`): a request head (request line and headers) must arrive
    # within `http_header_timeout_seconds` of the connection or of its first byte, and an idle
    # keep-alive connection is closed after `http_keep_alive_seconds` (see fanhub.http_server).
    http_header_timeout_seconds: float = Field(default=10.0, gt=0)
    http_keep_alive_seconds: int = Field(default=5, ge=1)

    default_phone_region: str = "US"
    max_body_bytes: int = 5 * 1024 * 1024
    max_items_per_batch: int = 1000
    # Helper processes that validate large batch bodies (see partners.validation); 0 validates in
    # the API process. Default: see `validation_process_count`.
    validation_processes: int | None = Field(default=None, ge=0)

    genres_file: Path | None = None
    ticketers_file: Path | None = None

    worker_poll_seconds: float = 0.2
    worker_in_process: bool = True
    # While the API has requests in flight, the in-process worker waits (up to this long into a busy
    # spell), then takes at most `worker_busy_share` of the time; idle, it runs flat out. See Worker.
    worker_busy_defer_seconds: float = Field(default=10.0, ge=0)
    worker_busy_share: float = Field(default=0.25, gt=0, le=1)

    # connectors
    sync_interval_minutes: int = 15
    eventbrite_calls_per_hour: int = 2000
    eventbrite_order_overlap_minutes: int = 15
    tickettailor_rescan_days: int = 30

    # campaigns
    campaign_batch_size: int = 200
    campaign_send_per_second: float = 0.0  # 0 = as fast as the provider allows
    # Provider connections per sending worker, i.e. messages in flight at once: also how many
    # messages a crash can leave `unknown` (see campaigns.sending).
    campaign_send_connections: int = Field(default=2, ge=1, le=16)
    # Per-provider limits, messages per second per worker process shared by every campaign
    # (0 = no limit), and how long an SMTP exchange may stall (see campaigns.sending.pipe).
    smtp_per_second: float = 0.0
    sms_per_second: float = 0.0
    smtp_timeout_seconds: float = 30.0

    # Signup forms (fanhub.forms.abuse): submissions per client IP and per form in any minute
    # (429 beyond; 0 = no limit), the least time between showing the hosted form and its
    # submission, and "mx" to refuse addresses whose domain has no mail server (needs a resolver).
    form_rate_per_ip: int = Field(default=10, ge=0)
    form_rate_per_form: int = Field(default=300, ge=0)
    form_min_fill_seconds: float = Field(default=3.0, ge=0)
    form_dns_check: str = ""

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_tls: str = Field(default="none", pattern="^(none|starttls|tls)$")
    mail_from: str = "fanhub <no-reply@localhost>"

    # Email provider event webhooks (deliverability/providers); each refuses every request until set.
    # SendGrid's Signed Event Webhook verification key as SendGrid shows it (base64 DER), or PEM.
    sendgrid_webhook_public_key: str | None = None
    # Mailgun's HTTP webhook signing key (HMAC-SHA256 of timestamp + token).
    mailgun_webhook_signing_key: str | None = None
    # `user:password` that Postmark sends as HTTP Basic credentials (put them in the webhook URL).
    postmark_webhook_credentials: str | None = None
    # Regex a whole SNS SigningCertURL must match before it is fetched; tests widen it to a local server.
    sns_cert_url_pattern: str = DEFAULT_SNS_CERT_URL_PATTERN
    # The SNS topics (ARNs, comma-separated) whose messages the SES webhook accepts; empty accepts any
    # topic. Anybody can subscribe the endpoint to a topic of their own, and SNS signs that too.
    sns_topic_arns: str = ""
    # The envelope sender (return path) of campaign mail, e.g. bounces@mail.venue.example (issue 19:
    # VERP per delivery); its domain is the return-path record the sending-domain page asks for.
    bounce_address: str | None = None
    # Sending domains (organizations.sending_domains): what SPF should include for the relay (e.g.
    # "include:amazonses.com" or "ip4:203.0.113.5"), and the DNS server the checks ask ("host[:port]";
    # unset: the system resolver). Tests point it at a local fake.
    spf_include: str | None = None
    dns_resolver: str | None = None
    # Where mail to the return-path (bounce) domain goes, as the relay needs it: "mx:HOST" (e.g.
    # mx:feedback-smtp.us-east-1.amazonses.com) or "cname:TARGET" (e.g. cname:pm.mtasv.net).
    # Unset: an MX to FANHUB_SMTP_HOST.
    return_path_target: str | None = None

    # Deliverability (fanhub.deliverability): soft bounces within 30 days that suppress an address;
    # the Bearer token of POST /v1/inbound/bounces; a bounce mailbox the worker polls
    # (pop3[s]:// or imap[s]://user:password@host[:port][/folder]); the reputation guard's limits,
    # checked once a campaign has made `guard_min_deliveries` deliveries.
    soft_bounce_limit: int = Field(default=3, ge=1)
    inbound_token: str | None = None
    bounce_mailbox_url: str | None = None
    bounce_mailbox_poll_seconds: float = Field(default=60.0, gt=0)
    guard_min_deliveries: int = Field(default=1000, ge=1)
    guard_hard_bounce_rate: float = Field(default=0.05, gt=0, le=1)
    guard_complaint_rate: float = Field(default=0.003, gt=0, le=1)

    sms_base_url: str | None = None
    sms_account_sid: str | None = None
    sms_auth_token: str | None = None
    sms_from: str | None = None

    def validation_process_count(self, api_processes: int = 1) -> int:
        """Validation helpers per API process: the configured number, else the cores each API
        process has to itself (at most 4), none when that is a single core."""
        if self.validation_processes is not None:
            return self.validation_processes
        cores_each = (os.cpu_count() or 1) // max(1, api_processes)
        return 0 if cores_each < 2 else min(cores_each, 4)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def data_dir(self) -> Path:
        """Folder beside the SQLite file (or the working directory) for keys and outboxes."""
        if self.is_sqlite:
            path = self.database_url.split(":///", 1)[-1]
            if path and path != ":memory:":
                return Path(path).resolve().parent
        return Path(os.getcwd())


@lru_cache
def get_settings() -> Settings:
    return Settings()
