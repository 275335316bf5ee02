"""`fanhub flow validate|create|activate|pause|resume|show|simulate` and `fanhub flows --org N`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from fanhub.clikit import JsonFlag, emit, fail, read_session, write_session

app = typer.Typer()  # this domain's commands; fanhub.cli adds them to the root app
flow_app = typer.Typer(help="Automations: flows of triggered messages.", no_args_is_help=True)
app.add_typer(flow_app, name="flow")

FileOption = Annotated[Path, typer.Option("--file", help="The flow's JSON document.")]
OrgOption = Annotated[int, typer.Option("--org", help="Organization id.")]


def _read(path: Path, as_json: bool) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(as_json, f"--file: {path}: no such file")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(as_json, f"--file: {path} is not JSON: {exc}")


def _time(value: str, flow_id: int, option: str, as_json: bool) -> datetime:
    """RFC 3339 with an offset, or a local time in the flow's organization's time zone."""
    from fanhub.campaigns.service import organization_zone, parse_send_time
    from fanhub.errors import InvalidInput
    from fanhub.flows.service import get_flow

    with read_session(as_json) as session:
        zone = organization_zone(session, get_flow(session, None, flow_id).organization_id)
    try:
        return parse_send_time(value, zone)
    except InvalidInput as exc:
        fail(as_json, f"{option}: {exc.errors[0]['message'] if exc.errors else exc.message}")


@flow_app.command("validate")
def flow_validate(file: FileOption, as_json: JsonFlag = False) -> None:
    """Check a flow document; every problem names its JSON path (steps[2].duration)."""
    from fanhub.errors import InvalidInput
    from fanhub.flows.service import validate

    document = _read(file, as_json)
    try:
        definition = validate(document)
    except InvalidInput as exc:
        emit(
            as_json,
            {"valid": False, "errors": exc.errors},
            "\n".join(f"{e['field']}: {e['message']}" for e in exc.errors),
        )
        raise typer.Exit(1) from None
    emit(as_json, {"valid": True, "errors": [], "name": definition.name}, f"{definition.name}: valid")


@flow_app.command("create")
def flow_create(org: OrgOption, file: FileOption, as_json: JsonFlag = False) -> None:
    """Create a draft flow from a JSON document; prints its id."""
    from fanhub.flows.service import create_flow

    document = _read(file, as_json)
    with write_session(as_json) as session:
        flow = create_flow(session, org, document, created_by="cli")
        result = {"id": flow.id, "status": flow.status}
    emit(as_json, result, f"Created flow {result['id']} (draft; activate it with fanhub flow activate {result['id']})")


@flow_app.command("activate")
def flow_activate(
    flow_id: int,
    backfill: Annotated[
        str | None, typer.Option("--backfill", help="Also act on trigger moments since this time (RFC 3339 or local).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Start a draft flow. Trigger moments before now are ignored unless --backfill SINCE."""
    from fanhub.flows.service import activate_flow, flow_summary

    since = _time(backfill, flow_id, "--backfill", as_json) if backfill else None
    with write_session(as_json) as session:
        result = flow_summary(activate_flow(session, None, flow_id, backfill_since=since))
    emit(as_json, result, f"Flow {flow_id} is active")


@flow_app.command("pause")
def flow_pause(flow_id: int, as_json: JsonFlag = False) -> None:
    """Hold every enrollment where it is."""
    from fanhub.flows.service import flow_summary, pause_flow

    with write_session(as_json) as session:
        result = flow_summary(pause_flow(session, None, flow_id))
    emit(as_json, result, f"Flow {flow_id} is paused")


@flow_app.command("resume")
def flow_resume(flow_id: int, as_json: JsonFlag = False) -> None:
    """Continue a paused flow where each enrollment stood."""
    from fanhub.flows.service import flow_summary, resume_flow

    with write_session(as_json) as session:
        result = flow_summary(resume_flow(session, None, flow_id))
    emit(as_json, result, f"Flow {flow_id} is active again")


@flow_app.command("show")
def flow_show(flow_id: int, as_json: JsonFlag = False) -> None:
    """Definition, status, enrollments and per-step figures."""
    from fanhub.flows.service import flow_detail

    with read_session(as_json) as session:
        detail = flow_detail(session, None, flow_id)
    counts = detail["enrollments"]
    lines = [
        f"{detail['name']} ({detail['status']}, trigger {detail['trigger']}): {counts['entered']} entered, "
        f"{counts['active']} in progress, {counts['completed']} completed, {counts['exited']} exited, "
        f"{counts['cancelled']} cancelled"
    ]
    lines += [
        f"  {s['index'] + 1}. {s['type']:<11} entered {s['entered']:>6}  waiting {s['at_step']:>6}"
        f"  done {s['completed']:>6}" + (f"  sent {s['sent']}" if s["type"] == "send" else "")
        for s in detail["steps"]
    ]
    emit(as_json, detail, "\n".join(lines))


@flow_app.command("simulate")
def flow_simulate(
    flow_id: int,
    at: Annotated[str, typer.Option("--at", help="Until when: RFC 3339, or local YYYY-MM-DDTHH:MM.")],
    as_json: JsonFlag = False,
) -> None:
    """Who would receive which step when, from now until --at, without sending or storing anything."""
    from fanhub.flows.service import simulate

    until = _time(at, flow_id, "--at", as_json)
    with write_session(as_json) as session:
        result = simulate(session, None, flow_id, until)
    human = "\n".join(
        f"{s['at']}  contact {s['contact_id']}  step {s['step'] + 1}  {s['channel']}" for s in result["sends"]
    )
    emit(as_json, result, human or "No sends planned.")


@app.command("flows")
def flows_list(org: OrgOption, as_json: JsonFlag = False) -> None:
    """The organization's flows, newest first."""
    from fanhub.flows.service import enrollment_counts, flow_summary, list_flows

    with read_session(as_json) as session:
        rows = [
            {**flow_summary(flow), "enrollments": enrollment_counts(session, flow.id)}
            for flow in list_flows(session, org)
        ]
    human = "\n".join(
        f"{r['id']:>5}  {r['status']:<7} {r['trigger']:<16} {r['name']}  ({r['enrollments']['entered']} entered)"
        for r in rows
    )
    emit(as_json, {"flows": rows}, human or "No flows.")
