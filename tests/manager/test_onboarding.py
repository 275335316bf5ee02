"""An empty organization's dashboard says what to do first and ticks each step off once done."""

from __future__ import annotations

import re

from fanhub.auth.service import list_keys, revoke_key
from fanhub.connectors.models import Connection
from fanhub.imports import service as imports
from tests.manager.conftest import Staff
from tests.manager.helpers import make_user


def _steps(staff: Staff) -> dict[str, str]:
    page = staff.client.get("/manager/").text
    if 'id="first-steps"' not in page:
        return {}
    return dict(re.findall(r'<li class="(done|todo)" data-step="(\w+)">', page)[i][::-1] for i in range(4))


def test_first_steps_are_ticked_off_as_they_are_done_and_then_the_list_goes(staff: Staff) -> None:
    with staff.db.write() as session:
        for key in list_keys(session, staff.org):
            revoke_key(session, key.id, staff.org)
    assert _steps(staff) == {"connect": "todo", "import": "todo", "key": "todo", "invite": "todo"}
    page = staff.client.get("/manager/").text
    assert 'href="/manager/settings/connections">Connect a ticketing platform' in page

    staff.post("/manager/settings/keys", {"partner": "website"})
    make_user(staff.db, staff.org, "colleague@venue.example", "marketer")
    with staff.db.write() as session:
        imports.create_upload(session, staff.org, "fans.csv", b"email\nfan@fans.example\n", "staff:1")
    assert _steps(staff) == {"connect": "todo", "import": "done", "key": "done", "invite": "done"}

    with staff.db.write() as session:
        session.add(
            Connection(
                organization_id=staff.org,
                platform="eventbrite",
                name="Eventbrite",
                base_url="http://127.0.0.1:9",
                credentials="",
                webhook_secret="s" * 32,
            )
        )
    assert _steps(staff) == {}
    assert 'id="audience-size"' in staff.client.get("/manager/").text
