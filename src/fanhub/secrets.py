"""The deployment secret: signs tracking links and keys the encryption of stored secrets (connector
credentials, DKIM private keys): `fernet()`, `encrypt_text()`, `decrypt_text()`.

`FANHUB_SECRET_KEY` when set; otherwise the embedded default generates a random secret on first
use and keeps it in `fanhub-secret.key` beside the database file, created with mode 0600 so only
its owner can read it. Changing it invalidates stored credentials and outstanding links.
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from fanhub.config import Settings, get_settings

KEY_FILE = "fanhub-secret.key"


def key_file(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def _load_or_create(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = base64.urlsafe_b64encode(os.urandom(32)).decode()
    try:
        # O_EXCL: two processes starting at once must not each write a different secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    os.chmod(path, 0o600)
    return secret


def deployment_secret(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return settings.secret_key or _load_or_create(key_file(settings))


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the current key (FANHUB_SECRET_KEY changed)."""


@lru_cache(maxsize=8)
def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def fernet(settings: Settings | None = None) -> Fernet:
    """Fernet (AES-128-CBC + HMAC-SHA256) keyed by the deployment secret stretched with SHA-256."""
    return _fernet(deployment_secret(settings or get_settings()))


def encrypt_text(value: str, settings: Settings | None = None) -> str:
    return fernet(settings).encrypt(value.encode()).decode()


def decrypt_text(token: str, settings: Settings | None = None) -> str:
    try:
        return fernet(settings).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("a stored secret cannot be decrypted: was FANHUB_SECRET_KEY changed?") from exc
