"""Bot and abuse defence of the public signup forms, without a third-party CAPTCHA.

- A honeypot input (`HONEYPOT`), hidden from people (off-screen, `tabindex=-1`, no autocomplete)
  and filled by form-filling bots: such a submission is answered like any other and dropped.
- A signed render timestamp (`render_token`): the hosted page carries when it was rendered, signed
  with the deployment secret; a submission less than `form_min_fill_seconds` after the render, or
  more than a day after it, or with a forged stamp, is a bot's and is dropped the same silent way.
  An embedded form (`embed_html`, static HTML pasted into another site) cannot carry a fresh stamp
  without script, so it carries a signed "embedded" stamp: its defence is the honeypot, the rate
  limits and double opt-in (nothing is sent to a bot, see below).
- Rate limits per client IP and per form (`RateLimits`: sliding one-minute windows in this
  process), answered with 429 and `Retry-After`.
- Address checks (`email_problem`): syntax, the reserved domains (.invalid, .test, .localhost and
  the other special-use names) always, an MX lookup only with `FANHUB_FORM_DNS_CHECK=mx`.

Dropped submissions never reach the database, so they never send a confirmation email: the form
cannot be used to mail-bomb someone. Every accepted or dropped submission gets the same answer
(303 to the thank-you page), whether or not the address is already known.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from fanhub.addresses import try_normalize_email
from fanhub.campaigns import tokens

HONEYPOT = "website"
RENDER = "fr"
EMBEDDED = 0  # the stamp of an embedded form: no render time known
MAX_AGE_SECONDS = 24 * 3600
RESERVED_SUFFIXES = (".invalid", ".test", ".localhost", ".local", ".example", ".onion", ".arpa")
WINDOW_SECONDS = 60.0


def render_token(form_id: int, now: datetime | None) -> str:
    """The signed stamp a page carries: the form and the second it was rendered (None: embedded)."""
    return tokens.make_token(RENDER, form_id, int(now.timestamp()) if now is not None else EMBEDDED)


def bot_reason(form_id: int, stamp: str, honeypot: str, now: datetime, min_fill_seconds: float) -> str | None:
    """Why the submission looks automated ("honeypot", "stamp", "too_fast", "stale"), else None."""
    if honeypot.strip():
        return "honeypot"
    parsed = tokens.read_token(stamp or "", RENDER)
    if parsed is None or parsed[0] != form_id or parsed[1] is None:
        return "stamp"
    rendered = parsed[1]
    if rendered == EMBEDDED:
        return None
    age = now.timestamp() - rendered
    if age < min_fill_seconds:
        return "too_fast"
    if age > MAX_AGE_SECONDS:
        return "stale"
    return None


def email_problem(raw: str, dns_check: str = "", resolver: str | None = None) -> tuple[str | None, str | None]:
    """(normalised address, None) when it may be used, else (None, what is wrong with it)."""
    domain = raw.strip().lower().rpartition("@")[2].rstrip(".")
    if "@" in raw and (("." + domain).endswith(RESERVED_SUFFIXES) or domain == "localhost"):
        return None, f"{domain} is a reserved domain that receives no mail"
    email = try_normalize_email(raw)
    if email is None:
        return None, "is not a valid email address"
    domain = email.rpartition("@")[2]
    if dns_check == "mx" and not _has_mail_host(domain, resolver):
        return None, f"{domain} has no mail server"
    return email, None


def _has_mail_host(domain: str, resolver_address: str | None) -> bool:
    """An MX record, or an A/AAAA record as the implicit MX (RFC 5321 5.1); lookup failures other
    than "no such name" let the address through (a resolver outage must not refuse every fan)."""
    import dns.exception
    import dns.resolver

    from fanhub.organizations.dns_checks import make_resolver

    resolver = make_resolver(resolver_address, timeout=3.0)
    for record in ("MX", "A", "AAAA"):
        try:
            resolver.resolve(domain, record)
            return True
        except dns.resolver.NXDOMAIN:
            return False
        except (dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            continue
        except dns.exception.DNSException:
            return True
    return False


@dataclass(frozen=True)
class Limited:
    """A refused submission: which limit and how many seconds until it admits one again."""

    scope: str  # "ip" | "form"
    retry_after: int


class RateLimits:
    """Sliding one-minute windows per client IP and per form, shared by this process's requests.

    In memory on purpose: a limit that needs a database write per submission would itself be the
    cheapest way to load the database. With several API processes each counts its own share.
    """

    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._sweep_at = 0.0

    def check(self, ip: str, form_key: str, per_ip: int, per_form: int, now: float | None = None) -> Limited | None:
        """Count one submission, or refuse it (uncounted) when a window is full."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if now >= self._sweep_at:
                self._sweep(now)
            windows = (("ip", (("ip", ip)), per_ip), ("form", ("form", form_key), per_form))
            for scope, key, limit in windows:
                hits = self._window(key, now)
                if limit > 0 and len(hits) >= limit:
                    return Limited(scope, max(1, int(hits[0] + WINDOW_SECONDS - now + 0.999)))
            for _, key, _ in windows:
                self._hits[key].append(now)
        return None

    def _window(self, key: tuple[str, str], now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - WINDOW_SECONDS:
            hits.popleft()
        return hits

    def _sweep(self, now: float) -> None:
        """Forget idle keys (every client IP ever seen would otherwise stay in memory)."""
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - WINDOW_SECONDS]:
            del self._hits[key]
        self._sweep_at = now + WINDOW_SECONDS

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


limits = RateLimits()
