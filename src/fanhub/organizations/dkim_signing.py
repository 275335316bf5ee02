"""DKIM signing (RFC 6376) of whole messages: rsa-sha256, relaxed/relaxed, with dkimpy's body
canonicalization and folding, and OpenSSL (`cryptography`) for the RSA step.

Why not `dkim.sign` itself: dkimpy does RSA in pure Python, 6.5 ms per message with a 2048-bit
key on our machines, ten times what the rest of sending a campaign email costs; OpenSSL signs in
0.27 ms, and the sending pipe has it done in a signing process of its own (`sign_in_background`).
What stays in Python is kept short: the message is split with C-speed regexes (`split_message`, what
dkimpy's `rfc822_parse` returns) and only the signed fields are canonicalized (`relaxed_value`).
The signature is the same, byte for byte (PKCS#1 v1.5 is deterministic):
tests/organizations/test_dkim.py compares it with `dkim.sign`, for campaign emails and for folded,
LF-only and trailing-blank-line messages, and verifies it with `dkim.verify`.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import multiprocessing
import os
import pickle
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import BrokenExecutor, Future
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from dkim.canonicalization import correct_empty_body, strip_trailing_lines

# The headers a receiver must see unchanged. Listing one the message lacks (List-Unsubscribe-Post
# on a test email) signs its absence, so nobody can add it on the way.
SIGNED_HEADERS: tuple[bytes, ...] = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
)
KEY_BITS = 2048
_HEADER_NAME = b"DKIM-Signature"


def generate_private_key() -> tuple[bytes, str]:
    """A new RSA key: (PKCS#8 PEM of the private key, base64 DER public key for the p= tag)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem, public_key_of(key)


def public_key_of(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


class DkimSigner:
    """Prepends a DKIM-Signature to RFC 5322 messages for one domain and selector; the key is
    loaded once. Safe to share between threads (no state changes after construction)."""

    def __init__(self, domain: str, selector: str, private_key_pem: bytes) -> None:
        # Validating an RSA key costs ~50 ms (the pipe makes a signer per slice, inside its write
        # transaction); this key is one fanhub generated, and its Fernet token is authenticated.
        key = serialization.load_pem_private_key(private_key_pem, password=None, unsafe_skip_rsa_key_validation=True)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("a DKIM key must be an RSA key")
        self._key = key
        self._pem = private_key_pem  # for the signing process (sign_in_background)
        self.domain = domain.encode("ascii")
        self.selector = selector.encode("ascii")

    def __call__(self, message: bytes) -> bytes:
        return self.signature(message) + message

    def signature(self, message: bytes, timestamp: int | None = None) -> bytes:
        """The `DKIM-Signature: ...\\r\\n` header line for `message` (what `dkim.sign` returns)."""
        headers, body = split_message(message)
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
        fields = [
            (b"v", b"1"),
            (b"a", b"rsa-sha256"),
            (b"c", b"relaxed/relaxed"),
            (b"d", self.domain),
            (b"i", b"@" + self.domain),
            (b"q", b"dns/txt"),
            (b"s", self.selector),
            (b"t", str(int(time.time()) if timestamp is None else timestamp).encode("ascii")),
            (b"h", b" : ".join(SIGNED_HEADERS)),
            (b"bh", body_hash),
            # A placeholder as long as dkimpy's, so b= folds onto its own line before signing and
            # the folding of the tags before it is the same once the real value is in.
            (b"b", b"0" * 60),
        ]
        unsigned = dkim.fold(b"; ".join(b"=".join(field) for field in fields), namelen=len(_HEADER_NAME))
        # RFC 6376 s3.7: the signed header fields in h= order, then this header with an empty b=
        # and no trailing CRLF, all relaxed-canonicalized (what dkim.hash_headers feeds the hash).
        hasher = hashlib.sha256()
        for name, value in select_signed(headers):
            hasher.update(name + b":" + relaxed_value(value) + b"\r\n")
        hasher.update(_HEADER_NAME.lower() + b":" + relaxed_value(b" " + dkim.RE_BTAG.sub(b"\\1", unsigned)))
        signature = self._key.sign(hasher.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        fields[-1] = (b"b", base64.b64encode(signature))
        value = dkim.fold(b"; ".join(b"=".join(field) for field in fields) + b"\r\n", namelen=len(_HEADER_NAME))
        return _HEADER_NAME + b": " + value


# --- signing in another process -----------------------------------------------------------------
# A thread that signs releases the GIL for the RSA step, but must take it back after every
# signature: while the sending pipe's thread renders, that wait is the interpreter's switch
# interval (5 ms), so a group of signatures fell behind and the provider connections waited for
# them (1.4 s of a 10.5 s send of 10,000 signed emails). A process of its own signs with no GIL
# to share; the messages go to it and come back through a pipe, a group per request. One process
# signs 2,700 messages a second, more than one sender sends.
#
# Not a ProcessPoolExecutor: its requests reach the process through two helper threads of the
# sender (a queue manager and a feeder), each of which must win the GIL from the rendering thread
# before the signing can start: with the signing itself faked out (a constant header), the sender
# sent 0.84-0.88 x its unsigned emails/s through a pool, 0.96-0.98 x through this (bench/send.py
# --dkim, Postfix's smtp-sink). Here the thread that submits writes the request itself, and one
# reader thread hands back the replies, in order.


class _SigningProcess:
    """The signing process and the pipe to it; replies come back in the order of the requests."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # the sender has threads and database
        # connections that a fork would copy mid-use
        self._pipe, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs,), daemon=True, name="fanhub-dkim-signing")
        self.process.start()
        theirs.close()
        self._send_lock = threading.Lock()  # requests go out in the order their futures are queued
        self._waiting: collections.deque[Future[list[bytes]]] = collections.deque()
        self.broken = False
        threading.Thread(target=self._read_replies, daemon=True, name="fanhub-dkim-replies").start()

    def submit(self, request: tuple[bytes, bytes, bytes, list[bytes]]) -> Future[list[bytes]]:
        future: Future[list[bytes]] = Future()
        data = pickle.dumps(request)  # before queueing: a request that cannot be sent has no future
        with self._send_lock:
            if self.broken:
                raise BrokenProcessPool("the DKIM signing process died")
            self._waiting.append(future)
            try:
                self._pipe.send_bytes(data)
            except OSError as exc:  # the process is gone: the reader fails what is waiting
                self.broken = True
                raise BrokenProcessPool("the DKIM signing process died") from exc
        return future

    def _read_replies(self) -> None:
        while True:
            try:
                reply = self._pipe.recv()
            except (EOFError, OSError):
                break
            future = self._waiting.popleft()  # queued before its request was sent
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)
        with self._send_lock:
            self.broken = True
            waiting, self._waiting = self._waiting, collections.deque()
        for future in waiting:
            future.set_exception(BrokenProcessPool("the DKIM signing process died"))


def _serve(pipe: Connection) -> None:
    """The signing process: signs each group it receives, with that group's key, until the
    sender closes the pipe."""
    signers: dict[tuple[bytes, bytes, bytes], DkimSigner] = {}
    while True:
        try:
            domain, selector, pem, messages = pipe.recv()
        except EOFError:
            return
        signer = signers.get((domain, selector, pem))
        if signer is None:
            signer = signers[domain, selector, pem] = DkimSigner(domain.decode("ascii"), selector.decode("ascii"), pem)
        try:
            reply: list[bytes] | Exception = [signer.signature(message) for message in messages]
        except Exception as exc:  # a message dkimpy's parser refuses: the sender sees the error
            reply = exc
        pipe.send(reply)


_signing: _SigningProcess | None = None
_signing_lock = threading.Lock()


def sign_in_background(signer: DkimSigner, messages: Sequence[bytes]) -> Future[list[bytes]]:
    """The `DKIM-Signature` header lines of `messages` (what `signer.signature` returns; only they
    travel back), signed in the signing process, which receives the key with the messages (a
    local pipe, to a child process). A process that died is replaced."""
    request = (signer.domain, signer.selector, signer._pem, list(messages))
    try:
        return _signing_process().submit(request)
    except BrokenExecutor:  # the signing process died (killed, out of memory): a new one
        return _signing_process().submit(request)


def _signing_process() -> _SigningProcess:
    global _signing
    with _signing_lock:
        if _signing is None or _signing.broken:
            _signing = _SigningProcess()
        return _signing


def _forget_signing_in_child() -> None:
    """A forked child cannot use its parent's signing process: it starts its own when it signs."""
    global _signing, _signing_lock
    _signing, _signing_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_signing_in_child)


# --- the message, as dkimpy reads it -------------------------------------------------------------
# dkimpy's rfc822_parse splits and re-joins every line of the body in Python and canonicalizes every
# header; a campaign email has a long body and a dozen header fields nobody signs. These give the
# same results (tests/organizations/test_dkim.py compares with dkim.sign) with C-speed splits.

_TRAILING_WSP = re.compile(rb"[\t ]+\r\n")
_LINE_END = re.compile(rb"\r?\n")
_FIELD_NAME = re.compile(rb"([\x21-\x7e]+?):")
_WSP = re.compile(rb"[\t ]+")


def split_message(message: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """`dkim.rfc822_parse`: ([(name, value with its line ends), ...], the body with CRLF line ends)."""
    head, body = _split_at_blank_line(message)
    headers: list[tuple[bytes, bytes]] = []
    for line in _LINE_END.split(head) if head else ():
        if line[:1] in (b"\t", b" ") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + line + b"\r\n")
            continue
        found = _FIELD_NAME.match(line)
        if found is not None:
            headers.append((found.group(1), line[found.end() :] + b"\r\n"))
        elif not line.startswith(b"From "):
            raise dkim.MessageFormatError(f"Unexpected characters in RFC822 header: {line!r}")
    if body.count(b"\n") != body.count(b"\r\n"):
        body = _LINE_END.sub(b"\r\n", body)
    return headers, body


def select_signed(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The last field of each SIGNED_HEADERS name present, in h= order, names relaxed (lower-cased)."""
    last: dict[bytes, bytes] = {}
    for name, value in headers:
        last[name.lower().rstrip()] = value
    return [(name, last[name]) for name in SIGNED_HEADERS if name in last]


def relaxed_value(value: bytes) -> bytes:
    """RFC 6376 s3.4.2 for one header value: unfolded, runs of WSP as one space, stripped."""
    value = value.replace(b"\r\n", b"").replace(b"\n", b"")
    if b"\t" in value or b"  " in value:
        value = _WSP.sub(b" ", value)
    return value.strip()


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 s3.4.4 (dkimpy's `Relaxed.canonicalize_body`); a body without tabs, double spaces or
    spaces before a line end skips the two whole-body regex passes that would change nothing."""
    if b"\t" in body or b"  " in body or b" \r\n" in body:
        body = _WSP.sub(b" ", _TRAILING_WSP.sub(b"\r\n", body))
    return correct_empty_body(strip_trailing_lines(body))


def _split_at_blank_line(message: bytes) -> tuple[bytes, bytes]:
    """(the header lines without the line end of the last, the body after the first empty line)."""
    if message.startswith((b"\r\n", b"\n")):
        return b"", message[message.index(b"\n") + 1 :]
    ends = [found for found in (message.find(b"\n\n"), message.find(b"\n\r\n")) if found >= 0]
    if not ends:  # no empty line: all header fields, no body
        return message, b""
    at = min(ends)  # the line end before the empty line
    body_at = at + (2 if message[at + 1 : at + 2] == b"\n" else 3)
    return message[: at - 1 if message[at - 1 : at] == b"\r" else at], message[body_at:]
