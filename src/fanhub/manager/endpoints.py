"""The manager's router: every page under /manager/, included by `fanhub.app` automatically.

Page modules register their routes on this one router (see `web.page` / `web.action`); pages of
domains that may be absent (campaigns, connections) register only when their services import.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from fanhub.errors import NotFound
from fanhub.manager import audience_pages, auth_pages, dashboard_pages, import_pages, settings_pages
from fanhub.manager.web import new_router

router = new_router()
auth_pages.register(router)
dashboard_pages.register(router)
audience_pages.register(router)
import_pages.register(router)
settings_pages.register(router)


def _optional_pages() -> None:
    from fanhub.modules import import_if_present

    for name in ("fanhub.manager.campaign_pages", "fanhub.manager.connection_pages"):
        module = import_if_present(name)
        if module is not None:
            module.register(router)


_optional_pages()


def _not_found(request: Request) -> Response:
    raise NotFound(request.url.path)


# Last, so unknown manager addresses get the HTML 404 page rather than the API's JSON.
router.add_api_route("/{rest:path}", _not_found, methods=["GET", "POST"])
