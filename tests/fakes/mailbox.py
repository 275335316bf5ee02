"""Fake POP3 and IMAP mail servers for the bounce mailbox poller: plain TCP on 127.0.0.1, a free port, a thread.

Just enough of RFC 1939 (POP3: USER, PASS, STAT, LIST, UIDL, RETR, DELE, NOOP, RSET, QUIT) and RFC 3501
(IMAP4rev1: CAPABILITY, LOGIN, SELECT, SEARCH ALL|UNDELETED, FETCH n (RFC822), STORE n +FLAGS
(\\Deleted), EXPUNGE, CLOSE, NOOP, LOGOUT) for the standard library's poplib and imaplib. Both keep
the protocol's deletion rules: POP3 deletions happen only at QUIT (a dropped connection deletes
nothing); IMAP \\Deleted messages go at EXPUNGE or CLOSE.

    with FakePop3Server(user="bounces", password="pw") as pop:
        pop.add(raw_bytes)
        poll_mailbox(pop.url, handle, limit=10)   # pop3://bounces:pw@127.0.0.1:PORT
        pop.messages                              # what is left on the server
"""

from __future__ import annotations

import re
import socketserver
import threading
from typing import Any, Self
from urllib.parse import quote

__all__ = ["FakeImapServer", "FakePop3Server"]


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _FakeMailServer:
    """Lifecycle and the shared message store (guarded by `lock`) of both fakes."""

    scheme = ""

    def __init__(self, user: str = "bounces", password: str = "secret") -> None:
        self.user = user
        self.password = password
        self.lock = threading.Lock()
        self._messages: list[bytes] = []
        self.commands: list[str] = []  # every command received, passwords masked
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    def _handler_class(self) -> type[socketserver.StreamRequestHandler]:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- data ---------------------------------------------------------------------------------
    def add(self, raw: bytes) -> None:
        with self.lock:
            self._messages.append(raw)

    @property
    def messages(self) -> list[bytes]:
        with self.lock:
            return list(self._messages)

    def log(self, line: str) -> None:
        with self.lock:
            self.commands.append(line)

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}@127.0.0.1:{self.port}"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
            self._thread.daemon = True
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- POP3 ---------------------------------------------------------------------------------------------


class FakePop3Server(_FakeMailServer):
    scheme = "pop3"

    def _handler_class(self) -> type[socketserver.StreamRequestHandler]:
        return _Pop3Session


class _Pop3Session(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        fake: FakePop3Server = self.server.fake  # type: ignore[attr-defined]
        self.fake = fake
        self.deleted: set[int] = set()
        self.authenticated = False
        self.user: str | None = None
        self._send("+OK fake POP3 server ready")
        while True:
            line = self.rfile.readline()
            if not line:
                return  # connection dropped: RFC 1939 says nothing is deleted
            command, _, argument = line.decode("utf-8", "replace").strip().partition(" ")
            command = command.upper()
            fake.log(f"{command} ***" if command == "PASS" else f"{command} {argument}".strip())
            if command == "QUIT":
                self._quit()
                return
            self._dispatch(command, argument)

    def _dispatch(self, command: str, argument: str) -> None:
        if command == "USER":
            self.user = argument
            self._send("+OK")
        elif command == "PASS":
            self.authenticated = self.user == self.fake.user and argument == self.fake.password
            self._send("+OK logged in" if self.authenticated else "-ERR [AUTH] invalid credentials")
        elif not self.authenticated:
            self._send("-ERR authenticate first")
        elif command in ("NOOP", "RSET"):
            if command == "RSET":
                self.deleted.clear()
            self._send("+OK")
        elif command == "STAT":
            live = self._live()
            self._send(f"+OK {len(live)} {sum(len(raw) for _, raw in live)}")
        elif command in ("LIST", "UIDL"):
            self._listing(command, argument)
        elif command in ("RETR", "DELE"):
            self._message_command(command, argument)
        else:
            self._send("-ERR unknown command")

    def _live(self) -> list[tuple[int, bytes]]:
        return [(n, raw) for n, raw in enumerate(self.fake.messages, 1) if n not in self.deleted]

    def _listing(self, command: str, argument: str) -> None:
        rows = [(n, len(raw) if command == "LIST" else f"uid{n}") for n, raw in self._live()]
        if argument:
            row = next((r for r in rows if str(r[0]) == argument), None)
            self._send(f"+OK {row[0]} {row[1]}" if row else "-ERR no such message")
            return
        self._send("+OK", *(f"{n} {value}" for n, value in rows), ".")

    def _message_command(self, command: str, argument: str) -> None:
        live = dict(self._live())
        number = int(argument) if argument.isdigit() else 0
        if number not in live:
            self._send("-ERR no such message")
        elif command == "DELE":
            self.deleted.add(number)
            self._send(f"+OK message {number} deleted")
        else:
            body = live[number].replace(b"\r\n", b"\n").split(b"\n")
            if body and body[-1] == b"":
                body.pop()
            stuffed = [b"." + line if line.startswith(b".") else line for line in body]
            self.wfile.write(f"+OK {len(live[number])} octets\r\n".encode() + b"\r\n".join([*stuffed, b"."]) + b"\r\n")

    def _quit(self) -> None:
        with self.fake.lock:
            self.fake._messages = [raw for n, raw in enumerate(self.fake._messages, 1) if n not in self.deleted]
        self._send("+OK bye")

    def _send(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())


# --- IMAP ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\()|(\))|([^\s()]+)')


def _tokens(text: str) -> list[Any]:
    """IMAP arguments: atoms and quoted strings as str, parenthesised lists as lists."""
    stack: list[list[Any]] = [[]]
    for quoted, opening, closing, atom in _TOKEN.findall(text):
        if opening:
            stack.append([])
        elif closing and len(stack) > 1:
            inner = stack.pop()
            stack[-1].append(inner)
        elif atom:
            stack[-1].append(atom)
        elif not closing:
            stack[-1].append(re.sub(r"\\(.)", r"\1", quoted))
    return stack[0]


class FakeImapServer(_FakeMailServer):
    scheme = "imap"

    def __init__(self, user: str = "bounces", password: str = "secret") -> None:
        super().__init__(user, password)
        self.folders: dict[str, list[bytes]] = {}  # other folders than INBOX, by name

    def add_to(self, folder: str, raw: bytes) -> None:
        with self.lock:
            self.folders.setdefault(folder, []).append(raw)

    def folder(self, name: str) -> list[bytes]:
        with self.lock:
            return list(self.folders.get(name, []))

    def _handler_class(self) -> type[socketserver.StreamRequestHandler]:
        return _ImapSession


class _ImapSession(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        fake: FakeImapServer = self.server.fake  # type: ignore[attr-defined]
        self.fake = fake
        self.authenticated = False
        self.selected: list[bytes] | None = None
        self.deleted: set[int] = set()
        self._send("* OK [CAPABILITY IMAP4rev1] fake IMAP server ready")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            tag, _, rest = line.decode("utf-8", "replace").strip().partition(" ")
            command, _, argument = rest.partition(" ")
            command = command.upper()
            fake.log(
                f"{command} {argument.split(' ')[0]} ***" if command == "LOGIN" else f"{command} {argument}".strip()
            )
            if command == "LOGOUT":
                self._send("* BYE logging out", f"{tag} OK LOGOUT completed")
                return
            self._dispatch(tag, command, _tokens(argument))

    def _dispatch(self, tag: str, command: str, args: list[Any]) -> None:
        if command == "CAPABILITY":
            self._send("* CAPABILITY IMAP4rev1", f"{tag} OK CAPABILITY completed")
        elif command == "NOOP":
            self._send(f"{tag} OK NOOP completed")
        elif command == "LOGIN":
            self.authenticated = args[:2] == [self.fake.user, self.fake.password]
            self._send(f"{tag} OK LOGIN completed" if self.authenticated else f"{tag} NO [AUTHENTICATIONFAILED] bad")
        elif not self.authenticated:
            self._send(f"{tag} BAD authenticate first")
        elif command == "SELECT":
            self._select(tag, str(args[0]) if args else "")
        elif self.selected is None:
            self._send(f"{tag} BAD select a folder first")
        elif command in ("SEARCH", "FETCH", "STORE", "EXPUNGE", "CLOSE"):
            getattr(self, f"_{command.lower()}")(tag, args)
        else:
            self._send(f"{tag} BAD unknown command")

    def _select(self, tag: str, name: str) -> None:
        with self.fake.lock:
            box = self.fake._messages if name.upper() == "INBOX" else self.fake.folders.get(name)
        if box is None:
            self._send(f"{tag} NO [NONEXISTENT] no such folder")
            return
        self.selected, self.deleted = box, set()
        self._send(
            "* FLAGS (\\Deleted \\Seen)",
            f"* {len(box)} EXISTS",
            "* 0 RECENT",
            f"{tag} OK [READ-WRITE] SELECT completed",
        )

    def _numbers(self, spec: str) -> list[int]:
        assert self.selected is not None
        count = len(self.selected)
        chosen: list[int] = []
        for piece in spec.split(","):
            low, _, high = piece.partition(":")
            first = count if low == "*" else int(low)
            last = first if not high else count if high == "*" else int(high)
            chosen.extend(n for n in range(first, last + 1) if 1 <= n <= count)
        return chosen

    def _search(self, tag: str, args: list[Any]) -> None:
        assert self.selected is not None
        key = str(args[-1]).upper() if args else "ALL"
        numbers = [n for n in range(1, len(self.selected) + 1) if key == "ALL" or n not in self.deleted]
        self._send("* SEARCH" + "".join(f" {n}" for n in numbers), f"{tag} OK SEARCH completed")

    def _fetch(self, tag: str, args: list[Any]) -> None:
        assert self.selected is not None
        items = args[1] if len(args) > 1 and isinstance(args[1], list) else args[1:]
        if [str(item).upper() for item in items] != ["RFC822"]:
            self._send(f"{tag} BAD only FETCH (RFC822) is supported")
            return
        for n in self._numbers(str(args[0])):
            raw = self.selected[n - 1]
            self.wfile.write(f"* {n} FETCH (RFC822 {{{len(raw)}}}\r\n".encode() + raw + b")\r\n")
        self._send(f"{tag} OK FETCH completed")

    def _store(self, tag: str, args: list[Any]) -> None:
        if len(args) < 3 or str(args[1]).upper() != "+FLAGS" or "\\Deleted" not in args[2]:
            self._send(f"{tag} BAD only STORE n +FLAGS (\\Deleted) is supported")
            return
        for n in self._numbers(str(args[0])):
            self.deleted.add(n)
            self._send(f"* {n} FETCH (FLAGS (\\Deleted))")
        self._send(f"{tag} OK STORE completed")

    def _remove_deleted(self) -> list[int]:
        assert self.selected is not None
        gone = sorted(self.deleted, reverse=True)  # highest first: each EXPUNGE renumbers the rest
        with self.fake.lock:
            for n in gone:
                del self.selected[n - 1]
        self.deleted = set()
        return gone

    def _expunge(self, tag: str, args: list[Any]) -> None:
        self._send(*(f"* {n} EXPUNGE" for n in self._remove_deleted()), f"{tag} OK EXPUNGE completed")

    def _close(self, tag: str, args: list[Any]) -> None:
        self._remove_deleted()
        self.selected = None
        self._send(f"{tag} OK CLOSE completed")

    def _send(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())
