"""Where bounce messages are read from: files on disk and POP3/IMAP mailboxes.

`read_messages(path)` yields `(name, raw bytes)` for a single .eml file, a folder of .eml files, a
Maildir (cur/ and new/) or an mbox file, using the standard library's `mailbox` for the last two.

`poll_mailbox(url, handle, limit)` fetches up to `limit` messages from `pop3://`, `pop3s://`,
`imap://` or `imaps://user:password@host:port/folder` and gives each one's raw bytes to `handle`.
A message is deleted (POP3 DELE, IMAP \\Deleted + EXPUNGE) only after `handle` returned without
raising; when it raises, the messages handled before it are deleted, it and the rest stay on the
server, and the exception propagates: a crash never loses a bounce. So `handle` must be idempotent
for a message it has seen (a connection lost after handling but before the delete shows it again).
"""

from __future__ import annotations

import imaplib
import mailbox
import poplib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["MailboxURLError", "poll_mailbox", "read_messages"]

Handler = Callable[[bytes], None]
DEFAULT_PORTS = {"pop3": 110, "pop3s": 995, "imap": 143, "imaps": 993}
TIMEOUT_SECONDS = 60.0


class MailboxURLError(ValueError):
    """A bounce mailbox URL that cannot be used; the message names the part that is wrong."""


# --- files ---------------------------------------------------------------------------------------


def read_messages(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """Every message under `path`, as (a name to report it by, its raw bytes), in a stable order."""
    where = Path(path)
    if not where.exists():
        raise FileNotFoundError(f"no such file or folder: {where}")
    if where.is_dir():
        if (where / "cur").is_dir() and (where / "new").is_dir():
            yield from _maildir(where)
        else:
            for file in sorted(where.glob("*.eml")):
                yield str(file), file.read_bytes()
        return
    with where.open("rb") as handle:
        head = handle.read(5)
    if head == b"From ":
        yield from _mbox(where)
    else:
        yield str(where), where.read_bytes()


def _maildir(where: Path) -> Iterator[tuple[str, bytes]]:
    box = mailbox.Maildir(where, factory=None, create=False)
    for key in sorted(box.iterkeys()):
        yield f"{where}/{key}", box.get_bytes(key)


def _mbox(where: Path) -> Iterator[tuple[str, bytes]]:
    box = mailbox.mbox(where, factory=None, create=False)
    try:
        for key in box.iterkeys():
            yield f"{where}#{key}", box.get_bytes(key)
    finally:
        box.close()


# --- POP3 and IMAP ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailboxURL:
    scheme: str
    host: str
    port: int
    user: str
    password: str
    folder: str

    @property
    def secure(self) -> bool:
        return self.scheme.endswith("s")


def parse_mailbox_url(url: str) -> MailboxURL:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise MailboxURLError(f"mailbox URL scheme must be one of {', '.join(DEFAULT_PORTS)}, not {scheme!r}")
    if not parts.hostname:
        raise MailboxURLError("mailbox URL has no host")
    if parts.username is None or parts.password is None:
        raise MailboxURLError("mailbox URL needs user:password@ before the host")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as error:
        raise MailboxURLError(f"mailbox URL port is not a number: {error}") from None
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return MailboxURL(scheme, parts.hostname, port, unquote(parts.username), unquote(parts.password), folder)


def poll_mailbox(url: str, handle: Handler, limit: int, *, ssl_context: ssl.SSLContext | None = None) -> int:
    """Hand up to `limit` messages to `handle`, deleting each once handled; returns how many were handled."""
    if limit < 1:
        return 0
    where = parse_mailbox_url(url)
    if where.scheme.startswith("pop3"):
        return _poll_pop3(where, handle, limit, ssl_context)
    return _poll_imap(where, handle, limit, ssl_context)


def _poll_pop3(where: MailboxURL, handle: Handler, limit: int, context: ssl.SSLContext | None) -> int:
    client: poplib.POP3
    if where.secure:
        client = poplib.POP3_SSL(
            where.host, where.port, timeout=TIMEOUT_SECONDS, context=context or ssl.create_default_context()
        )
    else:
        client = poplib.POP3(where.host, where.port, timeout=TIMEOUT_SECONDS)
    handled = 0
    try:
        client.user(where.user)
        client.pass_(where.password)
        count, _size = client.stat()
        for number in range(1, min(count, limit) + 1):
            _response, lines, _octets = client.retr(number)
            handle(b"\r\n".join(lines) + b"\r\n")
            client.dele(number)
            handled += 1
    finally:
        # QUIT commits the deletions (RFC 1939 UPDATE state): also after a failed handle, so the
        # messages handled before it are not handed over again.
        try:
            client.quit()
        except (poplib.error_proto, OSError):
            client.close()
    return handled


def _poll_imap(where: MailboxURL, handle: Handler, limit: int, context: ssl.SSLContext | None) -> int:
    client: imaplib.IMAP4
    if where.secure:
        client = imaplib.IMAP4_SSL(
            where.host, where.port, ssl_context=context or ssl.create_default_context(), timeout=TIMEOUT_SECONDS
        )
    else:
        client = imaplib.IMAP4(where.host, where.port, timeout=TIMEOUT_SECONDS)
    handled = 0
    try:
        client.login(where.user, where.password)
        status, data = client.select(_quoted(where.folder))
        if status != "OK":
            raise MailboxURLError(f"mailbox folder {where.folder!r} cannot be opened: {data!r}")
        _status, found = client.search(None, "UNDELETED")
        numbers = (found[0] or b"").split()[:limit]
        # Sequence numbers stay put until EXPUNGE, which runs once at the end.
        for number in numbers:
            handle(_fetched_message(client, number))
            client.store(number.decode(), "+FLAGS", "(\\Deleted)")
            handled += 1
    finally:
        try:
            if handled:
                client.expunge()
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            client.shutdown()
    return handled


def _fetched_message(client: imaplib.IMAP4, number: bytes) -> bytes:
    status, data = client.fetch(number.decode(), "(RFC822)")
    if status != "OK":
        raise imaplib.IMAP4.error(f"FETCH {number.decode()} failed: {data!r}")
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            return bytes(item[1])
    raise imaplib.IMAP4.error(f"FETCH {number.decode()} returned no message")


def _quoted(folder: str) -> str:
    if folder.isalnum():
        return folder
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
