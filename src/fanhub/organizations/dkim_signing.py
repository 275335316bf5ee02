"""DKIM signing (RFC 6376) of whole messages: rsa-sha256, relaxed/relaxed, with dkimpy's parser,
canonicalization, header selection and folding, and OpenSSL (`cryptography`) for the RSA step.

Why not `dkim.sign` itself: dkimpy does RSA in pure Python, 6.5 ms per message with a 2048-bit
key on our machines, ten times what the rest of sending a campaign email costs; OpenSSL signs in
0.25 ms and releases the GIL, so the provider connections sign in parallel. The signature is the
same, byte for byte (PKCS#1 v1.5 is deterministic): tests/organizations/test_dkim.py compares it
with `dkim.sign` and verifies it with `dkim.verify`.
"""

from __future__ import annotations

import base64
import hashlib
import time

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from dkim.canonicalization import CanonicalizationPolicy

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
_CANONICALIZATION = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")


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
        self.domain = domain.encode("ascii")
        self.selector = selector.encode("ascii")

    def __call__(self, message: bytes) -> bytes:
        return self.signature(message) + message

    def signature(self, message: bytes, timestamp: int | None = None) -> bytes:
        """The `DKIM-Signature: ...\\r\\n` header line for `message` (what `dkim.sign` returns)."""
        headers, body = dkim.rfc822_parse(message)
        body_hash = base64.b64encode(hashlib.sha256(_CANONICALIZATION.canonicalize_body(body)).digest())
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
        unsigned = dkim.RE_BTAG.sub(b"\\1", unsigned)
        hasher = hashlib.sha256()
        canonical_headers = _CANONICALIZATION.canonicalize_headers(headers)
        unsigned_header = (_HEADER_NAME, b" " + unsigned)
        dkim.hash_headers(hasher, _CANONICALIZATION, canonical_headers, SIGNED_HEADERS, unsigned_header, None)
        signature = self._key.sign(hasher.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        fields[-1] = (b"b", base64.b64encode(signature))
        value = dkim.fold(b"; ".join(b"=".join(field) for field in fields) + b"\r\n", namelen=len(_HEADER_NAME))
        return _HEADER_NAME + b": " + value
