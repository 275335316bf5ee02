"""An organization's sending domains: the DKIM key fanhub generates for each, the DNS records the
venue publishes (DKIM, SPF, DMARC, return path), their check, and the signer campaigns use.

- **DKIM**: `<selector>._domainkey.<domain>` TXT `v=DKIM1; k=rsa; p=<public key>`. The selector is
  `fanhub<yyyymm>` of the day the key was made, so a later key can be published beside it. The
  private key is stored encrypted with the deployment secret (`fanhub.secrets`).
- **SPF** is checked on the envelope sender's domain (RFC 7208), so it goes on the return-path
  domain: the domain of `FANHUB_BOUNCE_ADDRESS` when that is the sending domain or under it, else
  the sending domain. It must include the relay: `FANHUB_SPF_INCLUDE`, else `FANHUB_SMTP_HOST`.
- **DMARC** `_dmarc.<domain>` TXT, starting at `p=none` with aggregate reports to the domain itself.
- **Return path**: where bounces to the envelope sender go, `FANHUB_RETURN_PATH_TARGET` (`mx:HOST`
  or `cname:TARGET`, as the relay asks), else an MX to `FANHUB_SMTP_HOST`.

The checks (`organizations.dns_checks`) ask `FANHUB_DNS_RESOLVER` when set. Staff need the admin
role to add or check a domain; adding one is written in the audit log.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from email.utils import parseaddr
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fanhub.config import Settings, get_settings
from fanhub.db.base import utcnow
from fanhub.errors import InvalidInput, NotFound
from fanhub.organizations import audit
from fanhub.organizations.dkim_signing import DkimSigner, generate_private_key
from fanhub.organizations.dns_checks import DnsRecord, RecordCheck, lookup
from fanhub.organizations.models import SendingDomain
from fanhub.secrets import decrypt_text, encrypt_text

MAX_DOMAINS = 20
# `fanhub.auth.actor`'s READ and ADMINISTER: auth imports organizations, so not the other way round.
READ, ADMINISTER = "read", "administer"


class Caller(Protocol):
    """Who is asking: `fanhub.auth.actor.Actor` (staff, the CLI operator) fits."""

    @property
    def organization_id(self) -> int: ...

    @property
    def audit(self) -> str: ...

    def can(self, permission: str) -> bool: ...


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_domain(raw: str) -> str:
    """The domain in lower-case ASCII (IDNA), or InvalidInput naming the `domain` field."""
    text = raw.strip().rstrip(".").lower()
    if "@" in text:
        text = text.rpartition("@")[2]
    try:
        ascii_name = text.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        message = "Give a domain name such as venue.example."
        raise InvalidInput(f"invalid domain: {message}", [{"index": None, "field": "domain", "message": message}])
    return ascii_name


def default_selector(now: datetime | None = None) -> str:
    return f"fanhub{(now or utcnow()):%Y%m}"


def add_sending_domain(session: Session, actor: Caller, domain: str) -> SendingDomain:
    """Add a sending domain with a new RSA-2048 DKIM key (admin)."""
    _require(actor, ADMINISTER)
    name = normalize_domain(domain)
    existing = session.scalars(
        select(SendingDomain.domain).where(SendingDomain.organization_id == actor.organization_id)
    ).all()
    if name in existing:
        message = f"{name} is already added."
        raise InvalidInput(f"domain: {message}", [{"index": None, "field": "domain", "message": message}])
    if len(existing) >= MAX_DOMAINS:
        message = f"At most {MAX_DOMAINS} sending domains."
        raise InvalidInput(f"domain: {message}", [{"index": None, "field": "domain", "message": message}])
    pem, public_key = generate_private_key()
    sending_domain = SendingDomain(
        organization_id=actor.organization_id,
        domain=name,
        selector=default_selector(),
        private_key_encrypted=encrypt_text(pem.decode("ascii")),
        public_key=public_key,
    )
    session.add(sending_domain)
    session.flush()
    audit.record(
        session,
        actor.organization_id,
        actor.audit,
        "sending_domain.add",
        None,
        {"domain": name, "selector": sending_domain.selector},
    )
    return sending_domain


def list_sending_domains(session: Session, actor: Caller) -> list[SendingDomain]:
    _require(actor, READ)
    query = (
        select(SendingDomain)
        .where(SendingDomain.organization_id == actor.organization_id)
        .order_by(SendingDomain.domain, SendingDomain.id)
    )
    return list(session.scalars(query))


def get_sending_domain(session: Session, actor: Caller, domain_id: int) -> SendingDomain:
    _require(actor, READ)
    found = session.get(SendingDomain, domain_id)
    if found is None or found.organization_id != actor.organization_id:
        raise NotFound(f"sending domain {domain_id} not found")
    return found


def find_sending_domain(session: Session, actor: Caller, domain: str) -> SendingDomain:
    """The organization's sending domain by name (the CLI's argument)."""
    name = normalize_domain(domain)
    for candidate in list_sending_domains(session, actor):
        if candidate.domain == name:
            return candidate
    raise NotFound(f"sending domain {name} not found")


# --- the records to publish ----------------------------------------------------------------------


def return_path_domain(domain: str, settings: Settings) -> str:
    """The envelope sender's domain for mail from `domain`: the bounce address's, when it is
    `domain` or under it (so SPF aligns with From for DMARC), else `domain` itself."""
    bounce_domain = parseaddr(settings.bounce_address or "")[1].rpartition("@")[2].lower()
    if bounce_domain and (bounce_domain == domain or bounce_domain.endswith("." + domain)):
        return bounce_domain
    return domain


def spf_mechanism(settings: Settings) -> str:
    """What the SPF record must contain for the relay to pass: FANHUB_SPF_INCLUDE (a bare domain
    becomes include:DOMAIN), else the SMTP host (ip4:/ip6: for an address, a: for a name)."""
    configured = (settings.spf_include or "").strip()
    if configured:
        return configured if ":" in configured or configured in ("a", "mx") else f"include:{configured}"
    host = (settings.smtp_host or "").strip()
    if not host:
        return "mx"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"a:{host}"
    return f"ip{address.version}:{address}"


def _return_path_record(name: str, settings: Settings) -> DnsRecord:
    kind, _, target = (settings.return_path_target or "").strip().partition(":")
    if kind.lower() == "cname" and target:
        target = target.strip().rstrip(".").lower()
        return DnsRecord("CNAME", name, target, "return_path", target)
    if kind.lower() == "mx" and target:
        host = target.strip().rstrip(".").lower()
    else:
        host = (settings.smtp_host or urlsplit(settings.public_url).hostname or "localhost").lower()
    return DnsRecord("MX", name, f"10 {host}", "return_path", host)


def dns_records(domain: SendingDomain, settings: Settings | None = None) -> list[DnsRecord]:
    """The four records to publish for `domain`: DKIM, SPF, DMARC, return path."""
    settings = settings or get_settings()
    dkim_value = f"v=DKIM1; k=rsa; p={domain.public_key}"
    envelope_domain = return_path_domain(domain.domain, settings)
    mechanism = spf_mechanism(settings)
    return [
        DnsRecord("TXT", f"{domain.selector}._domainkey.{domain.domain}", dkim_value, "dkim", domain.public_key),
        DnsRecord("TXT", envelope_domain, f"v=spf1 {mechanism} ~all", "spf", mechanism),
        DnsRecord(
            "TXT",
            f"_dmarc.{domain.domain}",
            f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain.domain}",
            "dmarc",
            "v=DMARC1",
        ),
        _return_path_record(envelope_domain, settings),
    ]


# --- checking them -------------------------------------------------------------------------------


def check_dns(session: Session, actor: Caller, domain_id: int, resolver: str | None = None) -> list[RecordCheck]:
    """Look the domain's records up and keep the results (admin). The queries run inside the
    caller's transaction; a caller holding a write lock should use `records_for_check`, `lookup`
    outside it, then `save_check`, as the manager and the CLI do."""
    records = records_for_check(session, actor, domain_id)
    checks = lookup(records, resolver or get_settings().dns_resolver)
    save_check(session, actor, domain_id, checks)
    return checks


def records_for_check(session: Session, actor: Caller, domain_id: int) -> list[DnsRecord]:
    _require(actor, ADMINISTER)
    return dns_records(get_sending_domain(session, actor, domain_id))


def save_check(session: Session, actor: Caller, domain_id: int, checks: list[RecordCheck]) -> SendingDomain:
    _require(actor, ADMINISTER)
    domain = get_sending_domain(session, actor, domain_id)
    domain.last_checked_at = utcnow()
    domain.check_results = [check.as_dict() for check in checks]
    return domain


# --- signing -------------------------------------------------------------------------------------


def dkim_signer_for(session: Session, organization_id: int, from_domain: str) -> DkimSigner | None:
    """A signer (called with a whole RFC 5322 message, it prepends a DKIM-Signature) with the
    organization's key for `from_domain` (published or not yet: an unverifiable signature costs
    nothing more than none), or None when the organization has no such sending domain. The key is
    decrypted once, here; the signer is meant to live as long as a send."""
    name = from_domain.strip().rstrip(".").lower()
    domain = session.scalars(
        select(SendingDomain)
        .where(SendingDomain.organization_id == organization_id, func.lower(SendingDomain.domain) == name)
        .order_by(SendingDomain.id.desc())
        .limit(1)
    ).first()
    if domain is None:
        return None
    pem = decrypt_text(domain.private_key_encrypted).encode("ascii")
    return DkimSigner(domain.domain, domain.selector, pem)


def _require(actor: Caller, permission: str) -> None:
    if not actor.can(permission):
        raise InvalidInput(f"managing sending domains needs the {permission} permission")
