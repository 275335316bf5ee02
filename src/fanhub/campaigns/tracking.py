"""What happens when a recipient opens, clicks, unsubscribes, replies STOP, or a message bounces.

Each function runs inside the caller's write transaction and keeps `CampaignStats` in step: the
"first" of something per delivery is claimed with a conditional UPDATE (`... WHERE opened_at IS
NULL`), so two simultaneous hits by one recipient count once, on PostgreSQL too.

## Machine opens (decision)
An open is flagged `machine` and does NOT count (neither in `num_opens` nor for attribution) when
- it comes within `MACHINE_OPEN_SECONDS` of delivery (prefetchers and security scanners fetch at
  once; people do not read that fast), or
- its user agent is a known prefetcher: Apple Mail Privacy Protection fetches every image of every
  message with the bare agent `Mozilla/5.0`, whether or not anyone reads it; link scanners too.
Gmail's and Yahoo's image proxies (`GoogleImageProxy`, `YahooMailProxy`) are flagged with a
reason (`proxy:google`) but DO count: they fetch when the message is displayed, and discounting
them would erase every Gmail reader. Every pixel fetch is still stored, and the per-campaign detail
reports machine opens beside counted ones, so both raw and filtered numbers are available.

A click in an email also counts as an open of it (a reader with images blocked still read it).
Clicks are not time-filtered (a person who taps an SMS link seconds after it arrives is common);
clicks from known scanner agents are stored as `machine` and not counted.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from fanhub.addresses import try_normalize_phone
from fanhub.audience.consent import (
    EMAIL,
    SMS,
    SMS_CONFIRM,
    SMS_STOP,
    ConsentChange,
    LedgerEntry,
    sms_reply_source,
    sms_start_change,
)
from fanhub.audience.models import PENDING, ConsentEvent, Contact
from fanhub.audience.service import change_consent
from fanhub.campaigns.models import (
    DELIVERED,
    FAILED,
    Campaign,
    CampaignLink,
    CampaignStats,
    Click,
    Delivery,
    DeliveryFailure,
    Open,
    Unsubscribe,
)
from fanhub.db.base import utcnow

MACHINE_OPEN_SECONDS = 5.0
_PREFETCH_AGENTS = re.compile(r"^Mozilla/5\.0$|Barracuda|Mimecast|Proofpoint|ms-office-safelinks|urldefense", re.I)
_PROXY_AGENTS = {"googleimageproxy": "proxy:google", "yahoomailproxy": "proxy:yahoo"}
_SCANNER_CLICKS = re.compile(r"Barracuda|Mimecast|Proofpoint|safelinks|urldefense|bot\b|crawler|spider", re.I)

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
START_WORDS = {"START", "UNSTOP", "YES", "SUBSCRIBE"}


def _bump(session: Session, campaign_id: int, **deltas: int) -> None:
    values = {name: getattr(CampaignStats, name) + delta for name, delta in deltas.items() if delta}
    if values:
        session.execute(update(CampaignStats).where(CampaignStats.campaign_id == campaign_id).values(**values))


def _first(session: Session, delivery_id: int, column: str, when: datetime) -> bool:
    """Set `column` on the delivery if it is still empty; True when this call set it."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, getattr(Delivery, column).is_(None))
        .values({column: when})
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def classify_open(user_agent: str | None, sent_at: datetime | None, when: datetime) -> tuple[bool, str | None]:
    """(machine, reason) for a pixel fetch."""
    agent = (user_agent or "").strip()
    if agent and _PREFETCH_AGENTS.search(agent):
        return True, "apple_mpp" if agent == "Mozilla/5.0" else "scanner"
    if sent_at is not None and when - sent_at < timedelta(seconds=MACHINE_OPEN_SECONDS):
        return True, "fast"
    lowered = agent.lower()
    for marker, reason in _PROXY_AGENTS.items():
        if marker in lowered:
            return False, reason
    return False, None


def record_open(
    session: Session, delivery_id: int, user_agent: str | None, ip: str | None, when: datetime | None = None
) -> bool | None:
    """Store a pixel fetch; None for an unknown delivery, else whether it counted as a human open."""
    when = when or utcnow()
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    machine, reason = classify_open(user_agent, delivery.sent_at, when)
    session.execute(
        insert(Open).values(
            delivery_id=delivery_id,
            campaign_id=delivery.campaign_id,
            occurred_at=when,
            machine=machine,
            reason=reason,
            user_agent=(user_agent or "")[:400] or None,
            ip_address=(ip or "")[:64] or None,
        )
    )
    counters = {"open_events": 1}
    if machine:
        if _first(session, delivery_id, "machine_opened_at", when):
            counters["machine_opens"] = 1
    elif _first(session, delivery_id, "opened_at", when):
        counters["opens"] = 1
    _bump(session, delivery.campaign_id, **counters)
    return not machine


def record_click(
    session: Session,
    delivery_id: int,
    link_id: int,
    user_agent: str | None,
    ip: str | None,
    when: datetime | None = None,
) -> str | None:
    """Store a click and return where to send the browser: only ever one of the campaign's own links."""
    when = when or utcnow()
    delivery = session.get(Delivery, delivery_id)
    link = session.get(CampaignLink, link_id)
    if delivery is None or link is None or link.campaign_id != delivery.campaign_id:
        return None
    machine = bool(user_agent and _SCANNER_CLICKS.search(user_agent))
    session.execute(
        insert(Click).values(
            delivery_id=delivery_id,
            campaign_id=delivery.campaign_id,
            link_id=link_id,
            is_event_link=link.is_event_link,
            occurred_at=when,
            machine=machine,
            user_agent=(user_agent or "")[:400] or None,
            ip_address=(ip or "")[:64] or None,
        )
    )
    counters = {"click_events": 1}
    if not machine:
        if _first(session, delivery_id, "clicked_at", when):
            counters["clickers"] = 1
        if delivery.channel == EMAIL and _first(session, delivery_id, "opened_at", when):
            counters["opens"] = 1
    _bump(session, delivery.campaign_id, **counters)
    return link.url


def unsubscribe(session: Session, delivery_id: int, method: str, when: datetime | None = None) -> Delivery | None:
    """Unsubscribe the delivery's contact from the delivery's channel (through the consent rules)."""
    when = when or utcnow()
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    via = "sms_stop" if method == "sms_stop" else "unsubscribe_link"
    change_consent(
        session,
        delivery.organization_id,
        delivery.contact_id,
        ConsentChange(delivery.channel, False, via, f"campaign:{delivery.campaign_id}", when, method),
    )
    _count_unsubscribe(session, delivery, method, when)
    return delivery


def _count_unsubscribe(session: Session, delivery: Delivery, method: str, when: datetime) -> None:
    if _first(session, delivery.id, "unsubscribed_at", when):
        session.execute(
            insert(Unsubscribe).values(
                delivery_id=delivery.id,
                campaign_id=delivery.campaign_id,
                contact_id=delivery.contact_id,
                channel=delivery.channel,
                method=method,
                occurred_at=when,
            )
        )
        _bump(session, delivery.campaign_id, unsubscribes=1)


def inbound_sms(session: Session, from_number: str, body: str, when: datetime | None = None) -> str | None:
    """Handle a reply: STOP-words unsubscribe, START-words take back that number's own STOP, and
    `YES` confirms that number's pending SMS consent (a double opt-in signup form); returns the
    keyword acted on.

    Every organization here sends from the same number (FANHUB_SMS_FROM), and carriers treat STOP
    as "no more messages from this number", so a STOP applies to the contact with that phone in
    every organization, credited to the latest SMS campaign delivered to them. The ledger's `source`
    is `sms:<sender's E.164 number>` (`consent.sms_reply_source`): a START undoes only a STOP with
    that source and nothing else (the rule is `consent.sms_start_change`).
    """
    when = when or utcnow()
    words = re.findall(r"[A-Za-z]+", body or "")
    keyword = words[0].upper() if len(words) == 1 else (body or "").strip().upper()
    phone = try_normalize_phone(from_number)
    if phone is None or keyword not in STOP_WORDS | START_WORDS:
        return None
    # Lock the rows so that no other consent change lands between reading the ledger and acting on it.
    contacts = session.execute(
        select(Contact.id, Contact.organization_id).where(Contact.phone == phone).order_by(Contact.id).with_for_update()
    ).all()
    for contact_id, organization_id in contacts:
        if keyword in STOP_WORDS:
            _sms_stop(session, organization_id, contact_id, phone, keyword, when)
        else:
            _sms_start(session, organization_id, contact_id, phone, keyword, when)
    return keyword


def _sms_stop(
    session: Session, organization_id: int, contact_id: int, phone: str, keyword: str, when: datetime
) -> None:
    change = ConsentChange(SMS, False, SMS_STOP, sms_reply_source(phone), when, keyword.lower())
    change_consent(session, organization_id, contact_id, change)
    latest = session.scalars(
        select(Delivery)
        .where(
            Delivery.contact_id == contact_id,
            Delivery.channel == SMS,
            Delivery.sent_at.is_not(None),
            Delivery.sent_at <= when,
        )
        .order_by(Delivery.sent_at.desc())
        .limit(1)
    ).first()
    if latest is not None:
        _count_unsubscribe(session, latest, "sms_stop", when)


def _sms_start(
    session: Session, organization_id: int, contact_id: int, phone: str, keyword: str, when: datetime
) -> None:
    if keyword == "YES":
        # A YES confirms the number's own pending form request (consent.SMS_CONFIRM: only over
        # "pending", so a forged sender can neither lift an opt-out nor create consent).
        status = session.scalar(select(Contact.sms_status).where(Contact.id == contact_id))
        if status == PENDING:
            confirm = ConsentChange(SMS, True, SMS_CONFIRM, sms_reply_source(phone), when, "yes")
            change_consent(session, organization_id, contact_id, confirm)
            return
    rows = session.execute(
        select(ConsentEvent.status, ConsentEvent.via, ConsentEvent.source)
        .where(ConsentEvent.contact_id == contact_id, ConsentEvent.channel == SMS)
        .order_by(ConsentEvent.id.desc())
        .limit(2)
    ).all()
    change = sms_start_change(phone, [LedgerEntry(*row) for row in rows], when, keyword.lower())
    if change is not None:
        change_consent(session, organization_id, contact_id, change)


def sms_status(session: Session, delivery_id: int, status: str, error_code: str | None) -> bool:
    """A provider status callback; `undelivered`/`failed` turn a sent message into an undelivered one."""
    if status not in ("undelivered", "failed"):
        return False
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return False
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == DELIVERED)
        .values(status=FAILED, error=f"provider status {status} {error_code or ''}".strip())
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return False
    session.execute(
        insert(DeliveryFailure).values(
            delivery_id=delivery_id,
            campaign_id=delivery.campaign_id,
            kind="sms_status",
            code=error_code,
            detail=status,
            permanent=True,
            occurred_at=utcnow(),
        )
    )
    _bump(session, delivery.campaign_id, undelivered=1, delivered=-1)
    return True


def campaign_of(session: Session, delivery_id: int) -> Campaign | None:
    delivery = session.get(Delivery, delivery_id)
    return session.get(Campaign, delivery.campaign_id) if delivery else None
