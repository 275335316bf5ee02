"""`fanhub org sending-domain add|list|check`: an organization's sending domains, their DKIM keys and
the DNS records to publish (see `organizations.sending_domains`). `fanhub.cli` merges this bundle
into its `org` group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from fanhub.clikit import JsonFlag, emit, fail, read_session, write_session
from fanhub.organizations.dns_checks import lookup
from fanhub.organizations.models import SendingDomain
from fanhub.organizations.sending_domains import (
    add_sending_domain,
    dns_records,
    find_sending_domain,
    list_sending_domains,
    records_for_check,
    save_check,
)
from fanhub.organizations.service import (
    automation_settings,
    get_organization,
    sunset_settings,
    update_automation_settings,
    update_sunset_settings,
)
from fanhub.timeutil import iso_utc


@dataclass(frozen=True)
class Operator:
    """The operator at the CLI, with every permission, as `fanhub.auth.actor.Actor.cli` (which this
    package cannot import: auth imports organizations)."""

    organization_id: int
    audit: str = "cli"

    def can(self, permission: str) -> bool:
        return True


app = typer.Typer()  # merged into `fanhub org` by fanhub.cli
sending_domain_app = typer.Typer(
    help="Sending domains: the DKIM key fanhub signs with and the DNS records to publish.", no_args_is_help=True
)
app.add_typer(sending_domain_app, name="sending-domain")

OrgOption = Annotated[int, typer.Option("--org", help="Organization id.")]
DomainArgument = Annotated[str, typer.Argument(help="The domain of the From address, e.g. venue.example.")]
ResolverOption = Annotated[
    str | None, typer.Option("--resolver", help="DNS server to ask, host[:port] (default FANHUB_DNS_RESOLVER).")
]


def _payload(domain: SendingDomain) -> dict[str, Any]:
    return {
        "id": domain.id,
        "domain": domain.domain,
        "selector": domain.selector,
        "created_at": iso_utc(domain.created_at),
        "last_checked_at": iso_utc(domain.last_checked_at) if domain.last_checked_at else None,
        "records": [
            {"type": r.type, "name": r.name, "value": r.value, "purpose": r.purpose} for r in dns_records(domain)
        ],
        "last_check": domain.check_results,
    }


def _records_text(payload: dict[str, Any]) -> str:
    lines = [f"{payload['domain']} (selector {payload['selector']}): publish these records"]
    lines += [
        f"  {r['purpose']:<12} {r['type']:<5} {r['name']}\n               {r['value']}" for r in payload["records"]
    ]
    return "\n".join(lines)


@sending_domain_app.command("add")
def sending_domain_add(domain: DomainArgument, org: OrgOption, as_json: JsonFlag = False) -> None:
    """Add a sending domain: fanhub makes its DKIM key and prints the DNS records to publish."""
    with write_session(as_json) as session:
        get_organization(session, org)
        payload = _payload(add_sending_domain(session, Operator(org), domain))
    emit(as_json, payload, _records_text(payload))


@sending_domain_app.command("list")
def sending_domain_list(org: OrgOption, as_json: JsonFlag = False) -> None:
    """The organization's sending domains with their records and last check."""
    with read_session(as_json) as session:
        get_organization(session, org)
        payloads = [_payload(d) for d in list_sending_domains(session, Operator(org))]
    emit(as_json, {"sending_domains": payloads}, "\n\n".join(_records_text(p) for p in payloads) or "none")


@sending_domain_app.command("check")
def sending_domain_check(
    domain: DomainArgument, org: OrgOption, resolver: ResolverOption = None, as_json: JsonFlag = False
) -> None:
    """Look the domain's records up in DNS: each is ok, missing, wrong (with what was found) or error."""
    from fanhub.config import get_settings

    actor = Operator(org)
    with read_session(as_json) as session:
        get_organization(session, org)
        found = find_sending_domain(session, actor, domain)
        domain_id, name = found.id, found.domain
        records = records_for_check(session, actor, domain_id)
    # No transaction is open while DNS answers: SQLite's write lock would wait on it.
    checks = lookup(records, resolver or get_settings().dns_resolver)
    with write_session(as_json) as session:
        saved = save_check(session, actor, domain_id, checks)
        checked_at = iso_utc(saved.last_checked_at) if saved.last_checked_at else None
    results = [check.as_dict() for check in checks]
    payload = {"domain": name, "checked_at": checked_at, "ok": all(c.state == "ok" for c in checks), "records": results}
    human = "\n".join(f"{r['state']:<8} {r['purpose']:<12} {r['type']:<5} {r['name']}: {r['message']}" for r in results)
    emit(as_json, payload, human)


@app.command("update")
def org_update(
    organization_id: Annotated[int, typer.Argument(help="Organization id.")],
    max_messages_per_day: Annotated[
        int | None,
        typer.Option("--max-messages-per-day", help="Marketing messages per contact per local day (0 = no cap)."),
    ] = None,
    quiet_hours: Annotated[
        str | None, typer.Option("--quiet-hours", help="No SMS between these local times, e.g. 21:00-08:00.")
    ] = None,
    time_zone: Annotated[str | None, typer.Option("--time-zone", help="IANA time zone, e.g. Europe/Paris.")] = None,
    over_cap: Annotated[
        str | None, typer.Option("--over-cap", help="A flow step over the cap: defer (default) or drop.")
    ] = None,
    sunset: Annotated[
        str | None, typer.Option("--sunset", help="Sunset unengaged email subscribers: on or off.")
    ] = None,
    sunset_after: Annotated[
        int | None, typer.Option("--sunset-after", help="Emails without an open, click or purchase (default 20).")
    ] = None,
    sunset_min_days: Annotated[
        int | None, typer.Option("--sunset-min-days", help="Days those emails must span (default 90).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change the settings automations read: frequency cap, SMS quiet hours, time zone; and sunset."""
    if sunset not in (None, "on", "off"):
        fail(as_json, "sunset: on or off")
    with write_session(as_json) as session:
        organization = update_automation_settings(
            session,
            organization_id,
            max_messages_per_day=max_messages_per_day,
            quiet_hours=quiet_hours,
            time_zone=time_zone,
            over_cap=over_cap,
        )
        payload = automation_settings(organization)
        if (sunset, sunset_after, sunset_min_days) != (None, None, None):
            enabled = None if sunset is None else sunset == "on"
            changed = update_sunset_settings(
                session, organization_id, enabled=enabled, after_emails=sunset_after, min_days=sunset_min_days
            )
            payload.update(sunset_settings(changed))
    emit(
        as_json,
        payload,
        f"Organization {payload['id']}: at most {payload['max_messages_per_day']} messages a day, no SMS"
        f" {payload['quiet_hours']} ({payload['time_zone']}), over the cap: {payload['over_cap']}"
        + (
            f"; sunset {'on' if payload['sunset_enabled'] else 'off'} after {payload['sunset_after_emails']} emails"
            f" over {payload['sunset_min_days']} days"
            if "sunset_enabled" in payload
            else ""
        ),
    )
