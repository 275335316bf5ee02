"""FANHUB_SMTP_TLS starttls and tls against aiosmtpd with a throwaway certificate (verified, not ignored)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fanhub.campaigns.render import RenderedEmail
from fanhub.campaigns.sending import Message, SmtpTransport, build_email


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _Handler:
    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.rcpt_tos[0], bytes(envelope.content)))
        return "250 OK"


class _Ephemeral(Controller):
    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    return AuthResult(success=auth_data.login == b"fanhub" and auth_data.password == b"s3cret")


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_smtp_tls_modes(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    handler = _Handler()
    options: dict[str, Any] = (
        {"tls_context": context, "require_starttls": True, "authenticator": _authenticator}
        if mode == "starttls"
        # Implicit TLS: aiosmtpd does not see the wrapped socket as "TLS" for its AUTH check.
        else {"ssl_context": context, "authenticator": _authenticator, "auth_require_tls": False}
    )
    options.setdefault("auth_require_tls", True)
    controller = _Ephemeral(handler, hostname="127.0.0.1", port=0, **options)
    controller.start()
    try:
        # The client verifies the server against the system trust store: point it at our CA only.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        transport = SmtpTransport("127.0.0.1", controller.port, tls=mode, username="fanhub", password="s3cret")
        rendered = RenderedEmail(subject="Hi", html="<p>Hi</p>", text="Hi\n", unsubscribe_url="http://x/t/u/1")
        message = build_email(
            mail_from="Venue <news@venue.example>",
            to_name="Ann",
            to_address="ann@example.com",
            rendered=rendered,
            message_id="<1@venue.example>",
            campaign_id=1,
        )
        transport.push(Message(1, 1, "ann@example.com", sender="news@venue.example", body=message))
        transport.close()
        assert [r for r, _ in handler.received] == ["ann@example.com"]

        # Without trusting the certificate, the connection is refused (not silently unverified).
        monkeypatch.delenv("SSL_CERT_FILE")
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
        untrusting = SmtpTransport("127.0.0.1", controller.port, tls=mode, username="fanhub", password="s3cret")
        from fanhub.campaigns.sending import TryLater

        with pytest.raises(TryLater):
            untrusting.push(Message(1, 2, "ann@example.com", sender="news@venue.example", body=message))
    finally:
        controller.stop()
