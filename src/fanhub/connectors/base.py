"""What every platform connector shares: the HTTP client, call budgets and errors (streams: `streams.py`).

The client owns the robustness rules: a client-side call budget per
token (a sliding window, so a long backfill never earns a 429), bounded exponential backoff with
full jitter for 5xx and timeouts, and 429 handling that honours `Retry-After` /
`X-Rate-Limit-Reset`. Platforms classify their own error bodies (`classify`), because only they
know which error codes mean "stop" and which mean "try again".
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import TypeAdapter, ValidationError


class ConnectorError(Exception):
    """A sync or webhook step failed; `retryable` says whether a later attempt may succeed."""

    retryable = True

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class AuthError(ConnectorError):
    """The platform rejected the credentials: the connection is broken until reconnected."""

    retryable = False


class NotFoundError(ConnectorError):
    """404: for a just-created object this is eventual consistency, so callers retry later."""


class RateLimited(ConnectorError):
    """Still rate limited after the allowed waits; the checkpoint stays and the next run resumes."""


class ExpansionFailed(ConnectorError):
    """Eventbrite could not expand; the request is repeated without `expand`."""


class RequestFailed(ConnectorError):
    """Any other non-2xx answer (or exhausted retries)."""


# What `classify` may answer for a non-2xx response.
RETRY = "retry"
RATE_LIMITED = "rate_limited"
AUTH = "auth"
NOT_FOUND = "not_found"
EXPANSION = "expansion_failed"
FATAL = "fatal"


class CallBudget:
    """At most `calls` requests per `window` seconds for one token (sliding window).

    Budgets are shared per process and token (a hash of it), so two syncs of connections that use
    the same token never add up to more than the platform allows.
    """

    _shared: ClassVar[dict[tuple[str, int, float], CallBudget]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, calls: int, window: float = 3600.0) -> None:
        self.calls = max(1, calls)
        self.window = window
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    @classmethod
    def for_token(cls, token: str, calls: int, window: float = 3600.0) -> CallBudget:
        key = (hashlib.sha256(token.encode()).hexdigest(), calls, window)
        with cls._shared_lock:
            budget = cls._shared.get(key)
            if budget is None:
                budget = cls._shared[key] = CallBudget(calls, window)
            return budget

    def acquire(self, sleep: Callable[[float], None] = time.sleep) -> float:
        """Take one call from the budget, sleeping until one is free; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                while self._stamps and now - self._stamps[0] >= self.window:
                    self._stamps.popleft()
                if len(self._stamps) < self.calls:
                    self._stamps.append(now)
                    return waited
                delay = self.window - (now - self._stamps[0]) + 0.001
            sleep(delay)
            waited += delay


@dataclass
class CallStats:
    calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    rate_limit_wait_seconds: float = 0.0
    budget_wait_seconds: float = 0.0


@dataclass
class RetryPolicy:
    """Bounded exponential backoff with full jitter."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    # 429s: how many waits before giving up for this run (the checkpoint keeps the progress).
    rate_limit_attempts: int = 6
    rate_limit_default_wait: float = 60.0
    rate_limit_max_wait: float = 900.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * (2**attempt)))


Classifier = Callable[[httpx.Response, Any], tuple[str, str | None]]


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # CloudFront and proxies answer HTML now and then
        return None


@dataclass
class ApiClient:
    """An httpx client bound to one platform account."""

    base_url: str
    classify: Classifier
    auth: httpx.Auth | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    budget: CallBudget | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    stats: CallStats = field(default_factory=CallStats)
    on_wait: Callable[[str, float], None] | None = None
    transport: httpx.BaseTransport | None = None
    # Ticket Tailor: when X-Rate-Limit-Remaining reaches 0, wait X-Rate-Limit-Reset before the next call.
    pause_when_exhausted: bool = False

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._pause_until = 0.0
        self._client = httpx.Client(
            auth=self.auth,
            headers={"Accept": "application/json", "User-Agent": "fanhub-connector/0.1", **self.headers},
            timeout=self.timeout,
            follow_redirects=False,
            transport=self.transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def is_own_url(self, url: str) -> bool:
        return is_under(self.base_url, url)

    def _wait(self, reason: str, seconds: float) -> None:
        if self.on_wait is not None:
            self.on_wait(reason, seconds)
        self.sleep(seconds)

    def request(self, method: str, path: str, params: Any = None, **kwargs: Any) -> httpx.Response:
        url = self.url(path)
        attempt = 0
        limited = 0
        while True:
            pause = self._pause_until - time.monotonic()
            if pause > 0:
                self.stats.rate_limit_wait_seconds += pause
                self._wait("rate_limit", pause)
                self._pause_until = 0.0
            if self.budget is not None:
                waited = self.budget.acquire(self.sleep)
                if waited:
                    self.stats.budget_wait_seconds += waited
                    if self.on_wait is not None:
                        self.on_wait("budget", waited)
            self.stats.calls += 1
            try:
                response = self._client.request(method, url, params=params, **kwargs)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if attempt + 1 >= self.retry.attempts:
                    raise RequestFailed(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
                self.stats.retries += 1
                self._wait("retry", self.retry.backoff(attempt))
                attempt += 1
                continue
            if response.is_success:
                if self.pause_when_exhausted and response.headers.get("x-rate-limit-remaining") == "0":
                    reset = retry_after({"x-rate-limit-reset": response.headers.get("x-rate-limit-reset", "")})
                    if reset:
                        self._pause_until = time.monotonic() + min(reset, self.retry.rate_limit_max_wait)
                return response
            body = _json_or_none(response)
            kind, code = self.classify(response, body)
            message = f"{method} {urlsplit(url).path}: HTTP {response.status_code}" + (f" {code}" if code else "")
            if kind == RATE_LIMITED:
                self.stats.rate_limited += 1
                limited += 1
                if limited > self.retry.rate_limit_attempts:
                    raise RateLimited(message, response.status_code, code)
                delay = retry_after(response.headers)
                if delay is None:
                    delay = min(self.retry.rate_limit_max_wait, self.retry.rate_limit_default_wait * 2 ** (limited - 1))
                delay = min(delay, self.retry.rate_limit_max_wait)
                self.stats.rate_limit_wait_seconds += delay
                self._wait("rate_limit", delay)
                continue
            if kind == AUTH:
                raise AuthError(message, response.status_code, code)
            if kind == NOT_FOUND:
                raise NotFoundError(message, response.status_code, code)
            if kind == EXPANSION:
                raise ExpansionFailed(message, response.status_code, code)
            if kind == RETRY and attempt + 1 < self.retry.attempts:
                self.stats.retries += 1
                self._wait("retry", self.retry.backoff(attempt))
                attempt += 1
                continue
            raise RequestFailed(message, response.status_code, code)

    def get_json(self, path: str, params: Any = None, shape: TypeAdapter[Any] | None = None) -> Any:
        """The answer's JSON; with `shape`, only the parts the shape names (see `Stream.shape`)."""
        response = self.request("GET", path, params)
        if shape is not None:
            try:
                return shape.validate_json(response.content)
            except ValidationError:
                pass  # not the shape we expected: the whole document, and let the mapping judge it
        body = _json_or_none(response)
        if body is None:
            raise RequestFailed(f"GET {path}: the answer is not JSON", response.status_code)
        return body


def is_under(base_url: str, url: str) -> bool:
    """Whether `url` is on the API at `base_url` (same scheme, host and base path; no `..`, no userinfo)."""
    base, target = urlsplit(base_url.rstrip("/") + "/"), urlsplit(url)
    return (
        target.scheme == base.scheme
        and target.netloc.lower() == base.netloc.lower()
        and target.path.startswith(base.path)
        and ".." not in target.path.split("/")
        and not target.username
        and not target.password
    )


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `Retry-After` (seconds) or, failing that, `X-Rate-Limit-Reset`."""
    for name in ("retry-after", "x-rate-limit-reset"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            continue
    return None


def default_classify(response: httpx.Response, body: Any) -> tuple[str, str | None]:
    status = response.status_code
    if status == 429:
        return RATE_LIMITED, None
    if status in (401, 403):
        return AUTH, None
    if status == 404:
        return NOT_FOUND, None
    if status >= 500 or status == 408:
        return RETRY, None
    return FATAL, None


@dataclass
class ClientOptions:
    """Knobs tests and the benchmark turn; production uses the defaults and settings."""

    retry: RetryPolicy | None = None
    sleep: Callable[[float], None] = time.sleep
    budget_calls: int | None = None
    budget_window: float = 3600.0
    on_wait: Callable[[str, float], None] | None = None

    def client(self, base_url: str, classify: Classifier, **platform: Any) -> ApiClient:
        """An `ApiClient` with these options and what the platform adds (auth, headers, budget)."""
        return ApiClient(
            base_url, classify, retry=self.retry or RetryPolicy(), sleep=self.sleep, on_wait=self.on_wait, **platform
        )

    def budget(self, token: str, platform_calls: int | None = None) -> CallBudget | None:
        """The token's shared call budget: these options' calls, else the platform's; None when neither."""
        calls = self.budget_calls or platform_calls
        return CallBudget.for_token(token, calls, self.budget_window) if calls else None
