"""A tiny authoritative DNS server for tests: UDP on 127.0.0.1, an ephemeral port, in a thread.

It answers TXT, MX and CNAME questions from a dict, with responses built by dnspython's message
module: a name it holds with another type gets an empty NOERROR answer, a name it does not hold
NXDOMAIN. Point fanhub at it with `FANHUB_DNS_RESOLVER=127.0.0.1:<port>` (`server.address`).
"""

from __future__ import annotations

import socket
import threading
from typing import Self

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


def _txt_rdata(value: str) -> str:
    """A TXT value in zone-file syntax, split into quoted strings of at most 255 bytes (RFC 1035)."""
    raw = value.encode()
    chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
    return " ".join('"' + chunk.decode().replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks)


class FakeDnsServer:
    """`records[(name, type)] = [value, ...]`; values as published: TXT text, MX "10 host", CNAME target."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: dict[tuple[str, str], list[str]] = {}
        self.queries: list[tuple[str, str]] = []
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port = int(self._socket.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, name: str, rdtype: str, *values: str) -> None:
        """Publish `values` at `name` (replacing what was there); no values removes the record."""
        key = (name.rstrip(".").lower(), rdtype.upper())
        with self.lock:
            if values:
                self.records[key] = list(values)
            else:
                self.records.pop(key, None)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, client = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(wire)
            except Exception:
                continue  # not DNS: a real server would drop it too
            self._socket.sendto(self._answer(query).to_wire(), client)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        with self.lock:
            self.queries.append((name, rdtype))
            values = list(self.records.get((name, rdtype), []))
            known = any(key[0] == name for key in self.records)
        if not known:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        if values:
            texts = [_txt_rdata(v) for v in values] if rdtype == "TXT" else [_absolute(rdtype, v) for v in values]
            response.answer.append(dns.rrset.from_text_list(question.name, 300, dns.rdataclass.IN, rdtype, texts))
        return response


def _absolute(rdtype: str, value: str) -> str:
    """Host names in MX and CNAME data as absolute names (a trailing dot), as a zone file has them."""
    parts = value.split()
    parts[-1] = parts[-1].rstrip(".") + "."
    return " ".join(parts)
