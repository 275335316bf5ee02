"""What a platform declares to be a connector, and the parts of connecting and syncing it does not.

A platform is one `Connector` subclass in its own module, named once in `registry.PLATFORMS`. Its
class attributes are the whole of what the rest of fanhub knows about it:

- `platform`, `label`: the key in URLs and sources, and the name people see;
- `fields`: what a person gives to connect (credentials, kept encrypted, and settings); the CLI's
  `connect <platform>` options and the manager's connect form are built from them;
- `streams`: the declared streams a sync runs, in order (`streams.py`);
- `webhooks`: the handler that checks a delivery on receipt and turns it into records later;
- `make_client`: the HTTP client for an account (auth, call budget, error classification).

The generic steps (verify before saving, create, sync bookkeeping, webhook storage) live in
`service.py` and `webhooks.py` and never branch on the platform.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from fanhub.connectors.base import ApiClient, ClientOptions
from fanhub.connectors.streams import SyncedStream, SyncRun
from fanhub.connectors.sync import ConnectionInfo, SyncWriter, WebhookOutcome
from fanhub.errors import FanhubError

if TYPE_CHECKING:
    from fanhub.config import Settings


@dataclass(frozen=True)
class Field:
    """One value a person gives to connect a platform: a credential (encrypted at rest) or a setting."""

    name: str  # key in the credentials or settings, the form field and (dashed) the CLI option
    label: str  # what the form shows; also names it in "enter the ..." errors
    help: str  # the CLI option's help
    secret: bool = True  # a password input; never shown back
    required: bool = True
    credential: bool = True  # False: a connection setting (stored in clear)
    default: str | None = None
    on_form: bool = True  # False: CLI only (advanced, or asked for when needed, as a choice)
    repeatable: bool = False  # a CLI option given several times (a list)
    strip: bool = True  # False: kept exactly as typed (passwords)

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


class ChoiceNeeded(FanhubError):
    """The credentials see several of something (Eventbrite organizations): the caller picks one `field`."""

    def __init__(self, message: str, field: str, choices: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.field = field
        self.choices = choices  # [{"id", "name"}]


@dataclass
class Plan:
    """What connecting creates, decided from the values given and what the platform answered."""

    name: str
    settings: dict[str, Any]
    # Extra keys of the connect result (e.g. the Eventbrite organization chosen).
    result: dict[str, Any] = field(default_factory=dict)


# --- webhooks ----------------------------------------------------------------------------------------


@dataclass
class Accepted:
    """A delivery that passed the platform's checks, as it is stored."""

    kind: str
    body: dict[str, Any]
    dedupe_key: str | None = None
    # What the delivery is about (an api_url, an invoice) for coalescing and for rebuilding.
    ref: str | None = None
    # True: a delivery about the same `ref` still waiting covers this one (no delivery id to dedupe on).
    coalesce: bool = False


@dataclass
class Rejected:
    status: int
    message: str
    field: str | None = None


@dataclass
class Delivery:
    """A stored delivery as its handler processes it."""

    kind: str
    body: dict[str, Any]
    attempts: int
    age_seconds: float


class WebhookContext(Protocol):
    """What processing a delivery may use: the connection's connector (its client is made on first
    use) and the other deliveries stored about the same `ref`."""

    info: ConnectionInfo

    @property
    def connector(self) -> Connector: ...

    def related(self) -> list[tuple[str, dict[str, Any]]]: ...


class WebhookHandler:
    """A platform's webhook rules: what to check on receipt, and what a delivery becomes."""

    # Answers this platform's checks may give, for the OpenAPI document: {status: "why"}.
    responses: ClassVar[Mapping[int, str]] = {}

    def accept(
        self,
        info: ConnectionInfo,
        headers: Mapping[str, str],
        raw_body: bytes,
        body: dict[str, Any],
        query: Mapping[str, str],
    ) -> Accepted | Rejected:
        raise NotImplementedError

    def process(self, delivery: Delivery, context: WebhookContext) -> WebhookOutcome:
        raise NotImplementedError


# --- the connector -----------------------------------------------------------------------------------


class Connector:
    """One platform: its declarations (class attributes) and its calls for one connection."""

    platform: ClassVar[str]
    label: ClassVar[str]
    summary: ClassVar[str]  # one line: the `connect <platform>` command's help
    default_base_url: ClassVar[str | None] = None
    fields: ClassVar[Sequence[Field]] = ()
    streams: ClassVar[Sequence[type[SyncedStream]]] = ()
    webhooks: ClassVar[WebhookHandler]
    # Whether connecting with a public URL registers the webhook on the platform through its API.
    registers_webhooks: ClassVar[bool] = False

    def __init__(self, info: ConnectionInfo, client: ApiClient, settings: Settings) -> None:
        self.info = info
        self.client = client
        self.settings = settings

    # -- declarations that need code -------------------------------------------------------------
    @classmethod
    def make_client(
        cls, base_url: str, credentials: Mapping[str, Any], settings: Settings, options: ClientOptions
    ) -> ApiClient:
        raise NotImplementedError

    @classmethod
    def base_url_for(cls, values: Mapping[str, Any]) -> str:
        """The API base URL when none is given (Ticketor's depends on the site)."""
        if cls.default_base_url is None:
            raise NotImplementedError(f"{cls.platform} has no default base URL")
        return cls.default_base_url

    @classmethod
    def credentials_of(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        return {f.name: values.get(f.name) for f in cls.fields if f.credential}

    @classmethod
    def settings_of(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        return {f.name: values.get(f.name) for f in cls.fields if not f.credential}

    # -- connect ---------------------------------------------------------------------------------
    def verify(self) -> dict[str, Any]:
        """Check the credentials against the platform (raises `AuthError` when rejected)."""
        raise NotImplementedError

    def plan(self, values: Mapping[str, Any], found: dict[str, Any]) -> Plan:
        """What to create once `verify` answered `found` (default: the label and the settings given)."""
        return Plan(self.label, self.settings_of(values))

    def check_reconnect(self, found: dict[str, Any]) -> None:
        """Refuse new credentials that no longer reach this connection's account (default: any do)."""

    def register_webhook(self, endpoint_url: str) -> str:
        """Create the platform's webhook for `endpoint_url`; returns its id (`registers_webhooks`)."""
        raise NotImplementedError

    # -- sync ------------------------------------------------------------------------------------
    def stream_context(self) -> dict[str, str]:
        """Values for the placeholders of the streams' paths (default: none)."""
        return {}

    def configure(self, stream: SyncedStream) -> SyncedStream:
        """Apply this connection's settings to a stream (look-back overlaps; default: nothing)."""
        return stream

    def build_streams(self) -> list[SyncedStream]:
        context = self.stream_context()
        return [self.configure(stream(self.client, context)) for stream in self.streams]

    def sync(self, writer: SyncWriter, *, full: bool = False, deadline: float | None = None) -> bool:
        """Run the declared streams in order from their checkpoints; False when stopped by `deadline`."""
        run = SyncRun(writer, full, deadline)
        streams = self.build_streams()
        for stream in streams:
            stream.prepare(run)
        return all(stream.sync(run) for stream in streams)
