"""Checking published DNS records with dnspython: each record is ok, missing, wrong (with what was
found instead) or unanswered (`error`: the resolver timed out or refused).

The resolver is the system's, or `host[:port]` (`FANHUB_DNS_RESOLVER`; `[v6]:port` for IPv6), which
is how tests point the checks at a local fake server (tests/fakes/dns.py).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.resolver

OK, MISSING, WRONG, ERROR = "ok", "missing", "wrong", "error"


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """A record to publish. `match` is what a found value must contain to count as this record:
    the public key for DKIM, the relay's mechanism for SPF, the version tag for DMARC, the host
    for MX and CNAME (a venue's own SPF or DMARC may say more than fanhub's suggestion)."""

    type: str  # TXT | MX | CNAME
    name: str
    value: str
    purpose: str  # dkim | spf | dmarc | return_path
    match: str


@dataclass(frozen=True, slots=True)
class RecordCheck:
    record: DnsRecord
    state: str  # ok | missing | wrong | error
    found: tuple[str, ...]
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.record.type,
            "name": self.record.name,
            "purpose": self.record.purpose,
            "expected": self.record.value,
            "state": self.state,
            "found": list(self.found),
            "message": self.message,
        }


def parse_resolver(address: str) -> tuple[str, int]:
    """`host`, `host:port` or `[v6]:port` → (IP address, port); a host name is resolved once."""
    text = address.strip()
    port = 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = int(port_text)
    else:
        host = text
    try:
        ipaddress.ip_address(host)
    except ValueError:
        host = socket.gethostbyname(host)
    return host, port


def make_resolver(address: str | None, timeout: float = 5.0) -> dns.resolver.Resolver:
    if address:
        host, port = parse_resolver(address)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    else:
        resolver = dns.resolver.Resolver()
    resolver.lifetime = timeout
    return resolver


def lookup(records: list[DnsRecord], resolver_address: str | None, timeout: float = 5.0) -> list[RecordCheck]:
    """Each record's state, asking `resolver_address` (None: the system resolver)."""
    try:
        resolver = make_resolver(resolver_address, timeout)
    except (ValueError, OSError, dns.exception.DNSException) as exc:
        return [RecordCheck(record, ERROR, (), f"No DNS resolver to ask: {exc}") for record in records]
    checks = []
    for record in records:
        try:
            found = _answers(resolver, record.name, record.type)
        except dns.exception.DNSException as exc:
            checks.append(RecordCheck(record, ERROR, (), f"DNS did not answer: {exc}"))
            continue
        state, message = _JUDGES[record.purpose](record, found)
        checks.append(RecordCheck(record, state, tuple(found), message))
    return checks


def _answers(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> list[str]:
    try:
        answer = resolver.resolve(name, rdtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    if answer.rrset is None:
        return []
    values = []
    for rdata in answer.rrset:
        if rdtype == "TXT":
            # A TXT record is one or more strings of at most 255 bytes: a 2048-bit key takes two.
            values.append(b"".join(rdata.strings).decode("utf-8", "replace"))
        elif rdtype == "MX":
            values.append(f"{rdata.preference} {_host(rdata.exchange.to_text())}")
        else:
            values.append(_host(rdata.to_text()))
    return sorted(values)


def _host(text: str) -> str:
    return text.rstrip(".").lower()


def _tags(value: str) -> dict[str, str]:
    tags = {}
    for part in value.split(";"):
        key, sep, tag_value = part.partition("=")
        if sep:
            tags[key.strip().lower()] = tag_value.strip()
    return tags


def _judge_dkim(record: DnsRecord, found: list[str]) -> tuple[str, str]:
    keys = [_tags(value) for value in found if "p=" in value]
    if not keys:
        return MISSING, "No DKIM key is published at this name yet."
    if any("".join(tags.get("p", "").split()) == record.match for tags in keys):
        return OK, "The DKIM key matches fanhub's."
    return WRONG, "A DKIM key is published here, but not fanhub's: replace its value with the one shown."


def _judge_spf(record: DnsRecord, found: list[str]) -> tuple[str, str]:
    spf = [value for value in found if value.lower().startswith("v=spf1")]
    if not spf:
        return MISSING, "No SPF record (TXT starting v=spf1) at this name."
    if len(spf) > 1:
        return WRONG, "More than one SPF record: receivers treat that as an error (RFC 7208); merge them into one."
    terms = {term.lstrip("+?~-").lower() for term in spf[0].split()[1:]}
    if record.match.lower() in terms:
        return OK, f"SPF includes {record.match}."
    return WRONG, f"The SPF record does not include {record.match}: add it before the final all."


def _judge_dmarc(record: DnsRecord, found: list[str]) -> tuple[str, str]:
    dmarc = [_tags(value) for value in found if value.upper().startswith("V=DMARC1")]
    if not dmarc:
        return MISSING, "No DMARC record (TXT starting v=DMARC1) at this name."
    if len(dmarc) > 1:
        return WRONG, "More than one DMARC record: receivers then ignore DMARC (RFC 7489); keep one."
    policy = dmarc[0].get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        return WRONG, "The DMARC record has no valid p= policy (none, quarantine or reject)."
    return OK, f"DMARC is published with policy {policy}."


def _judge_return_path(record: DnsRecord, found: list[str]) -> tuple[str, str]:
    if not found:
        return MISSING, f"No {record.type} record at this name."
    hosts = [value.split()[-1] for value in found]
    if record.match in hosts:
        return OK, f"{record.type} points to {record.match}."
    return WRONG, f"{record.type} points elsewhere; it should point to {record.match}."


_JUDGES = {"dkim": _judge_dkim, "spf": _judge_spf, "dmarc": _judge_dmarc, "return_path": _judge_return_path}
