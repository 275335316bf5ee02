"""A flow with known figures, written row by row, for the analytics, Partners, manager and MCP tests.

The flow is the "know before you go" template (0 send email, 1 wait, 2 condition, 3 send sms,
4 tag). Five contacts entered it (2026-03-01 and 2026-03-02, UTC):

- c1 ran every step and completed;
- c2 ran steps 0-2 and left at the condition (exited, reason "condition");
- c3 ran step 0 and waits at step 1;
- c4 ran step 0 and was at step 1 when the exit goal held (exited by goal, 2026-03-02 15:00);
- c5 entered and waits at step 0 (deferred by the cap): not run yet.

Step 0 is backed by two step campaigns (rounds 1 and 2): round 1 delivered c1, c2, c3 (c1 and c2
opened, c1 clicked, c3 unsubscribed; c1's order of 2 tickets, 80.00 USD, is attributed to it), round 2
sent c4, which bounced (undelivered). Step 3's campaign delivered c1's SMS. So, by hand:

step   reached  sent  delivered  opens  clicks  unsubs  undelivered  goal  tickets  revenue
0      5        4     3          2      1       1       1            0     2        8000
1      4 (c1, c2 ran it; c3 waits; c4 left there)                    1
2      2
3      1        1     1
4      1
flow   entered 5, exited by goal 1, sent 5, delivered 4, opens 2, clicks 1, unsubs 1, undelivered 1,
       tickets 2, revenue 8000.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fanhub.audience.models import Contact
from fanhub.campaigns.models import Attribution, Campaign, CampaignStats, Delivery
from fanhub.catalog.models import Order
from fanhub.db.engine import Database
from fanhub.flows.models import ACTIVE, COMPLETED, EXITED, RUNNING, Flow, FlowEnrollment, FlowStepRun
from fanhub.flows.templates import KNOW_BEFORE_YOU_GO


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@dataclass
class SeededFlow:
    flow_id: int
    contacts: list[int]
    order_id: int


def _campaign(org: int, flow_id: int, step: int, round_: int, channel: str) -> Campaign:
    return Campaign(
        organization_id=org,
        type=channel,
        name=f"flow {flow_id} step {step} round {round_}",
        subject="Tomorrow" if channel == "email" else None,
        body="hello",
        audience={},
        status="sent",
        delivered_at=at(1, 9),
        flow_id=flow_id,
        flow_step=step,
        flow_round=round_,
    )


def seed_flow(db: Database, org: int, name: str = "Know before you go") -> SeededFlow:
    document = {**KNOW_BEFORE_YOU_GO.definition(), "name": name}
    with db.write() as session:
        flow = Flow(
            organization_id=org,
            name=name,
            definition=document,
            trigger_type="before_event",
            status=ACTIVE,
            activated_at=at(1, 8),
        )
        session.add(flow)
        slug = "".join(ch for ch in name.lower() if ch.isalnum())
        contacts = [Contact(organization_id=org, email=f"c{i}-{slug}@example.com") for i in range(1, 6)]
        session.add_all(contacts)
        session.flush()
        c = [x.id for x in contacts]
        # (contact, state, step_index, exit_reason, entered, finished, steps run)
        plan = [
            (c[0], COMPLETED, 5, None, at(1, 9), at(2, 10), [0, 1, 2, 3, 4]),
            (c[1], EXITED, 2, "condition", at(1, 9), at(1, 13), [0, 1, 2]),
            (c[2], RUNNING, 1, None, at(1, 10), None, [0]),
            (c[3], EXITED, 1, "goal", at(2, 9), at(2, 15), [0]),
            (c[4], RUNNING, 0, None, at(2, 11), None, []),
        ]
        enrollments: dict[int, FlowEnrollment] = {}
        for contact, state, step, reason, entered, finished, ran in plan:
            enrollment = FlowEnrollment(
                organization_id=org,
                flow_id=flow.id,
                contact_id=contact,
                trigger_key="event:1",
                state=state,
                step_index=step,
                exit_reason=reason,
                entered_at=entered,
                finished_at=finished,
            )
            session.add(enrollment)
            session.flush()
            enrollments[contact] = enrollment
            for index in ran:
                kind = KNOW_BEFORE_YOU_GO.document["steps"][index]["type"]
                session.add(
                    FlowStepRun(
                        enrollment_id=enrollment.id,
                        flow_id=flow.id,
                        contact_id=contact,
                        step_index=index,
                        step_type=kind,
                        outcome="sent" if kind == "send" else "done",
                        ran_at=entered,
                    )
                )
        round1 = _campaign(org, flow.id, 0, 1, "email")
        round2 = _campaign(org, flow.id, 0, 2, "email")
        sms = _campaign(org, flow.id, 3, 1, "sms")
        session.add_all([round1, round2, sms])
        session.flush()
        session.add_all(
            [
                CampaignStats(
                    campaign_id=round1.id,
                    organization_id=org,
                    recipients=3,
                    delivered=3,
                    opens=2,
                    clickers=1,
                    unsubscribes=1,
                    attributed_orders=1,
                    attributed_tickets=2,
                    attributed_revenue=8000,
                ),
                CampaignStats(campaign_id=round2.id, organization_id=org, recipients=1, undelivered=1),
                CampaignStats(campaign_id=sms.id, organization_id=org, recipients=1, delivered=1),
            ]
        )
        deliveries = {}
        for contact, campaign, sent, opened, clicked in [
            (c[0], round1, at(1, 9, 5), at(1, 12), at(1, 12, 30)),
            (c[1], round1, at(1, 9, 5), at(2, 8), None),
            (c[2], round1, at(1, 10, 5), None, None),
            (c[3], round2, at(2, 9, 5), None, None),
            (c[0], sms, at(2, 9), None, None),
        ]:
            delivery = Delivery(
                organization_id=org,
                campaign_id=campaign.id,
                contact_id=contact,
                channel=campaign.type,
                address=f"{contact}@example.com",
                status="sent" if contact != c[3] else "failed",
                sent_at=sent,
                opened_at=opened,
                clicked_at=clicked,
            )
            session.add(delivery)
            session.flush()
            deliveries[(contact, campaign.id)] = delivery
        order = Order(
            organization_id=org,
            source="partner:acme",
            external_id=f"o-{flow.id}",
            event_external_id="e1",
            contact_id=c[0],
            total_cents=8000,
            tickets=2,
            placed_at=at(2, 14),
        )
        session.add(order)
        session.flush()
        session.add(
            Attribution(
                organization_id=org,
                order_id=order.id,
                campaign_id=round1.id,
                delivery_id=deliveries[(c[0], round1.id)].id,
                contact_id=c[0],
                channel="email",
                rule="email_open",
                window_days=5,
                delivered_at=at(1, 9, 5),
                touch_at=at(1, 12),
                placed_at=at(2, 14),
                tickets=2,
                revenue_cents=8000,
            )
        )
        return SeededFlow(flow.id, c, order.id)


STEP_FIGURES = [
    # reached, sent, delivered, opens, clicks, unsubs, undelivered, goal, tickets, revenue
    (5, 4, 3, 2, 1, 1, 1, 0, 2, 8000),
    (4, 0, 0, 0, 0, 0, 0, 1, 0, 0),
    (2, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    (1, 1, 1, 0, 0, 0, 0, 0, 0, 0),
    (1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
]
FIGURE_NAMES = (
    "num_entered",
    "num_recipients",
    "num_delivered",
    "num_opens",
    "num_links_clicked",
    "num_unsubscribes",
    "num_undelivered",
    "num_exited_by_goal",
    "attributed_tickets_sold",
    "attributed_revenue",
)
FLOW_FIGURES = {
    "num_entered": 5,
    "num_exited_by_goal": 1,
    "num_recipients": 5,
    "num_delivered": 4,
    "num_opens": 2,
    "num_links_clicked": 1,
    "num_unsubscribes": 1,
    "num_undelivered": 1,
    "attributed_tickets_sold": 2,
    "attributed_revenue": 8000,
}
# Time series by UTC day, by hand from the rows above.
DAILY_SERIES = {
    "entered": [{"at": "2026-03-01T00:00:00Z", "count": 3}, {"at": "2026-03-02T00:00:00Z", "count": 2}],
    "exited_by_goal": [{"at": "2026-03-02T00:00:00Z", "count": 1}],
    "sent": [{"at": "2026-03-01T00:00:00Z", "count": 3}, {"at": "2026-03-02T00:00:00Z", "count": 2}],
    "opens": [{"at": "2026-03-01T00:00:00Z", "count": 1}, {"at": "2026-03-02T00:00:00Z", "count": 1}],
    "clicks": [{"at": "2026-03-01T00:00:00Z", "count": 1}],
    "attributed_orders": [{"at": "2026-03-02T00:00:00Z", "count": 1, "tickets": 2, "revenue": 8000}],
}
