"""The manager's router: every page under /manager/, included by `fanhub.app`.

Each page module registers its routes on this one router (see `web.page` / `web.action`).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from fanhub.errors import NotFound
from fanhub.manager import (
    audience_pages,
    auth_pages,
    campaign_pages,
    connection_pages,
    dashboard_pages,
    engagement_pages,
    flow_pages,
    form_pages,
    import_pages,
    privacy_pages,
    report_pages,
    sending_domain_pages,
    settings_pages,
    suppression_pages,
)
from fanhub.manager.web import new_router

router = new_router()
auth_pages.register(router)
dashboard_pages.register(router)
audience_pages.register(router)
import_pages.register(router)
settings_pages.register(router)
engagement_pages.register(router)
sending_domain_pages.register(router)
report_pages.register(router)  # before campaign_pages: /campaigns/compare is no campaign id
campaign_pages.register(router)
connection_pages.register(router)
flow_pages.register(router)
suppression_pages.register(router)
form_pages.register(router)
privacy_pages.register(router)  # /contacts/{id}/export.json and /erase: literal segments, any order works


def _not_found(request: Request) -> Response:
    raise NotFound(request.url.path)


# Last, so unknown manager addresses get the HTML 404 page rather than the API's JSON.
router.add_api_route("/{rest:path}", _not_found, methods=["GET", "POST"])
