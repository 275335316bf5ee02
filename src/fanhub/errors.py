"""Domain errors that every interface (API, CLI, manager, MCP) translates in its own way."""

from __future__ import annotations


class FanhubError(Exception):
    """Base class for errors caused by the caller, never by a bug."""


class NotFound(FanhubError):
    pass


class InvalidInput(FanhubError):
    """Bad input; `errors` lists each problem with the item index and field path."""

    def __init__(self, message: str, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class UnsupportedMediaType(FanhubError):
    """A body in a format the endpoint does not read (415); `errors` names the header."""

    def __init__(self, message: str, errors: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
