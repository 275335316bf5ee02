"""HTTP endpoints of the Partners API. Thin: validate, call a service, shape the response."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from fanhub.audience import queries as audience_queries
from fanhub.auth.actor import Actor
from fanhub.auth.dependencies import DB, PartnerActor
from fanhub.campaigns.analytics import campaign_analytics, campaign_detail
from fanhub.catalog import queries as catalog_queries
from fanhub.errors import UnsupportedMediaType
from fanhub.flows.analytics import flow_analytics, flow_detail
from fanhub.ingest.records import NO_CONTROL_PATTERN
from fanhub.ingest.service import get_batch
from fanhub.pagination import MAX_PER_PAGE, Page, PageRequest
from fanhub.partners import service
from fanhub.partners.schemas import (
    ERROR_RESPONSES,
    READ_ERRORS,
    Accepted,
    BatchStatusResponse,
    CampaignAnalyticsResponse,
    CreateContactRequest,
    CreateEventsRequest,
    CreateOrdersRequest,
    FlowAnalyticsDetailResponse,
    FlowAnalyticsResponse,
    ItemResponse,
    PagedResponse,
    SubscribeRequest,
    request_body,
)
from fanhub.partners.validation import ValidationPool, duplicate_keys
from fanhub.timeutil import iso_utc

RequestModel = TypeVar("RequestModel", bound=BaseModel)
router = APIRouter(prefix="/v1/partners", tags=["Partners API"])

# Bounds the database can be asked about: ids are 64-bit, and a page's OFFSET must be one too.
MAX_ID = 2**63 - 1
MAX_PAGE = MAX_ID // MAX_PER_PAGE
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")]
PerPage = Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="Records per page (at most 100).")]
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="fanhub's id of the record.")]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# Text filters: PostgreSQL cannot even compare a string holding NUL, so control characters are refused.
TextFilter = Annotated[str | None, Query(max_length=1000, pattern=NO_CONTROL_PATTERN)]
BatchId = Annotated[str, Path(max_length=64, pattern=NO_CONTROL_PATTERN, description="The batch_id of a 201.")]


def _wake(request: Request) -> None:
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()


def _accepted(request: Request, batch_id: str) -> Accepted:
    _wake(request)
    return Accepted(batch_id=batch_id)


def _paged(page: Page[dict[str, object]]) -> PagedResponse:
    return PagedResponse(response=list(page.items), page=page.page, per_page=page.per_page, has_more=page.has_more)


def _require_json(request: Request) -> None:
    """Only JSON is read: a text/plain body is refused rather than guessed at (a missing header means JSON)."""
    media_type = request.headers.get("content-type", "application/json").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType(
            f"Content-Type {media_type!r} is not read here; send application/json",
            [{"index": None, "field": "Content-Type", "message": "must be application/json"}],
        )


async def _parse(request: Request, model: type[RequestModel], actor: Actor) -> RequestModel:
    """Validate the raw body in one pass (pydantic's JSON parser); errors become the API's 400/422."""
    _require_json(request)
    body = await request.body()
    try:
        parsed = model.model_validate_json(body, context={"phone_region": actor.phone_region})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False), body=body) from None
    duplicates = duplicate_keys(body)
    if duplicates:
        raise RequestValidationError(duplicates, body=body)
    return parsed


async def _check_batch(request: Request, model: type[BaseModel], items_field: str, actor: Actor) -> tuple[int, bytes]:
    """Validate a batch body (in a helper process when it is large); its item count and raw bytes."""
    _require_json(request)
    body = await request.body()
    pool: ValidationPool = request.app.state.validation
    checked = await pool.check(model, items_field, body, {"phone_region": actor.phone_region})
    if isinstance(checked, list):
        raise RequestValidationError(checked, body=body)
    return checked, body


@router.post(
    "/events",
    status_code=201,
    response_model=Accepted,
    responses=ERROR_RESPONSES,
    summary="Create events",
    openapi_extra=request_body(CreateEventsRequest),
)
async def create_events(request: Request, actor: PartnerActor, database: DB) -> Accepted:
    """Queue a set of events; 201 means the batch is stored durably and will be applied."""
    count, raw = await _check_batch(request, CreateEventsRequest, "events", actor)
    return _accepted(request, await run_in_threadpool(service.accept_events, database, actor, count, raw))


@router.post(
    "/orders",
    status_code=201,
    response_model=Accepted,
    responses=ERROR_RESPONSES,
    summary="Create orders",
    openapi_extra=request_body(CreateOrdersRequest),
)
async def create_orders(request: Request, actor: PartnerActor, database: DB) -> Accepted:
    """Queue a set of orders; each customer joins (or becomes) one contact of the organization."""
    count, raw = await _check_batch(request, CreateOrdersRequest, "orders", actor)
    return _accepted(request, await run_in_threadpool(service.accept_orders, database, actor, count, raw))


@router.post(
    "/contact",
    status_code=201,
    response_model=Accepted,
    responses=ERROR_RESPONSES,
    summary="Create a contact",
    openapi_extra=request_body(CreateContactRequest),
)
async def create_contact(request: Request, actor: PartnerActor, database: DB) -> Accepted:
    """Create or update a contact; `opt_ins` true subscribes, false unsubscribes, null leaves it unchanged."""
    body = await _parse(request, CreateContactRequest, actor)
    return _accepted(request, await run_in_threadpool(service.accept_contact, database, actor, body))


@router.post(
    "/subscribe",
    status_code=201,
    response_model=Accepted,
    responses=ERROR_RESPONSES,
    summary="Subscribe a contact",
    openapi_extra=request_body(SubscribeRequest),
)
async def subscribe(request: Request, actor: PartnerActor, database: DB) -> Accepted:
    """Subscribe a contact to email (when an email is given) and SMS (when a phone is given)."""
    body = await _parse(request, SubscribeRequest, actor)
    return _accepted(request, await run_in_threadpool(service.accept_subscribe, database, actor, body))


@router.get(
    "/campaigns/analytics",
    response_model=CampaignAnalyticsResponse,
    responses=READ_ERRORS,
    summary="Get campaign analytics",
)
def get_campaign_analytics(
    actor: PartnerActor,
    database: DB,
    page: PageNumber = 1,
    per_page: PerPage = 10,
    type: Literal["email", "sms"] | None = None,
) -> CampaignAnalyticsResponse:
    with database.read() as session:
        result = campaign_analytics(session, actor.organization_id, PageRequest(page, per_page), type)
    return CampaignAnalyticsResponse.model_validate({"response": list(result.items)})


@router.get(
    "/flows/analytics",
    response_model=FlowAnalyticsResponse,
    responses=READ_ERRORS,
    summary="Get flow (automation) analytics",
)
def get_flow_analytics(
    actor: PartnerActor,
    database: DB,
    page: PageNumber = 1,
    per_page: PerPage = 10,
    status: Literal["draft", "active", "paused"] | None = None,
) -> FlowAnalyticsResponse:
    """The organization's flows, newest first, with the campaign analytics figures summed over their
    steps' messages, enrollments entered and exited by goal, and the same figures per step."""
    with database.read() as session:
        result = flow_analytics(session, actor.organization_id, PageRequest(page, per_page), status)
    return FlowAnalyticsResponse.model_validate({"response": list(result.items)})


@router.get(
    "/flows/{flow_id}/analytics",
    response_model=FlowAnalyticsDetailResponse,
    responses=READ_ERRORS,
    summary="Get one flow's analytics with time series",
)
def get_flow_detail(
    flow_id: RowId,
    actor: PartnerActor,
    database: DB,
    interval: Annotated[Literal["hour", "day"], Query(description="Bucket size of the time series.")] = "day",
) -> FlowAnalyticsDetailResponse:
    """The list figures (with steps) plus time series of enrollments entered and exited by goal,
    messages sent, opens, clicks and attributed orders, bucketed in UTC."""
    with database.read() as session:
        detail = flow_detail(session, actor.organization_id, flow_id, interval)
    return FlowAnalyticsDetailResponse.model_validate({"response": detail})


@router.get(
    "/batches/{batch_id}",
    response_model=BatchStatusResponse,
    responses=READ_ERRORS,
    summary="Get an ingest batch's status",
)
def get_batch_status(batch_id: BatchId, actor: PartnerActor, database: DB) -> BatchStatusResponse:
    with database.read() as session:
        batch = get_batch(session, actor.organization_id, batch_id)
        return BatchStatusResponse.model_validate(
            {
                "response": {
                    "batch_id": batch.public_id,
                    "kind": batch.kind,
                    "source": batch.source,
                    "status": batch.status,
                    "item_count": batch.item_count,
                    "stats": batch.stats or {},
                    "errors": batch.errors or [],
                    "received_at": iso_utc(batch.received_at),
                    "applied_at": iso_utc(batch.applied_at),
                }
            }
        )


@router.get("/events", response_model=PagedResponse, responses=READ_ERRORS, summary="List events")
def list_events(
    actor: PartnerActor,
    database: DB,
    page: PageNumber = 1,
    per_page: PerPage = 10,
    status: Literal["live", "canceled"] | None = None,
    source: TextFilter = None,
    external_id: TextFilter = None,
) -> PagedResponse:
    with database.read() as session:
        return _paged(
            catalog_queries.list_events(
                session,
                actor.organization_id,
                PageRequest(page, per_page),
                status=status,
                source=source,
                external_id=external_id,
            )
        )


@router.get("/events/{event_id}", response_model=ItemResponse, responses=READ_ERRORS, summary="Get an event")
def get_event(event_id: RowId, actor: PartnerActor, database: DB) -> ItemResponse:
    with database.read() as session:
        return ItemResponse(response=catalog_queries.get_event(session, actor.organization_id, event_id))


@router.get("/orders", response_model=PagedResponse, responses=READ_ERRORS, summary="List orders")
def list_orders(
    actor: PartnerActor,
    database: DB,
    page: PageNumber = 1,
    per_page: PerPage = 10,
    event_id: IdFilter = None,
    contact_id: IdFilter = None,
) -> PagedResponse:
    with database.read() as session:
        return _paged(
            catalog_queries.list_orders(
                session,
                actor.organization_id,
                PageRequest(page, per_page),
                event_id=event_id,
                contact_id=contact_id,
            )
        )


@router.get("/contacts", response_model=PagedResponse, responses=READ_ERRORS, summary="Find contacts")
def list_contacts(
    actor: PartnerActor,
    database: DB,
    page: PageNumber = 1,
    per_page: PerPage = 10,
    email: TextFilter = None,
    phone: TextFilter = None,
    tag: TextFilter = None,
    list_id: IdFilter = None,
    min_rating: Annotated[
        int | None, Query(ge=1, le=5, description="Engagement rating of at least this many stars (1-5).")
    ] = None,
    rating_channel: Annotated[
        Literal["email", "sms"], Query(description="The subscription `min_rating` applies to.")
    ] = "email",
) -> PagedResponse:
    """Contacts matching all given filters; `email` and `phone` are matched after normalisation.
    Each subscription carries its engagement `rating` (1-5 stars; 3 until there is data)."""
    with database.read() as session:
        return _paged(
            audience_queries.find_contacts(
                session,
                actor.organization_id,
                PageRequest(page, per_page),
                audience_queries.ContactFilter(
                    email=email,
                    phone=phone,
                    tag_name=tag,
                    list_id=list_id,
                    min_rating=min_rating,
                    rating_channel=rating_channel,
                ),
            )
        )


@router.get("/contacts/{contact_id}", response_model=ItemResponse, responses=READ_ERRORS, summary="Get a contact")
def get_contact(contact_id: RowId, actor: PartnerActor, database: DB) -> ItemResponse:
    """A contact with its subscriptions, consent history, tags, lists, genres and source records."""
    with database.read() as session:
        return ItemResponse(
            response=audience_queries.get_contact(session, actor.organization_id, contact_id, with_ledger=True)
        )


@router.get(
    "/genres",
    response_model=ItemResponse,
    responses={403: ERROR_RESPONSES[403]},
    summary="Accepted genres and ticketers",
)
def get_vocabulary(actor: PartnerActor) -> ItemResponse:
    from fanhub.audience.vocabulary import genres, ticketers

    return ItemResponse(response={"genres": list(genres()), "ticketers": list(ticketers())})


@router.get(
    "/campaigns/{campaign_id}/analytics",
    response_model=ItemResponse,
    responses=READ_ERRORS,
    summary="Get one campaign's analytics with time series",
)
def get_campaign_detail(
    campaign_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    actor: PartnerActor,
    database: DB,
    interval: Annotated[Literal["hour", "day"], Query(description="Bucket size of the time series.")] = "day",
) -> ItemResponse:
    """The list figures plus raw counts (machine opens, all clicks) and time series of opens, clicks and
    attributed orders, bucketed in UTC."""
    with database.read() as session:
        detail: dict[str, Any] = campaign_detail(session, actor.organization_id, campaign_id, interval)
    return ItemResponse(response=detail)
