"""Encryption of connector credentials at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from `FANHUB_SECRET_KEY` (any string; it is stretched with SHA-256). Without it, the
embedded default generates a random key on first use and keeps it beside the database file,
created with mode 0600 so only the owner can read it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from fanhub.config import Settings, get_settings

KEY_FILE = "fanhub-secret.key"


class CredentialsUnreadable(Exception):
    """The stored credentials cannot be decrypted with the current key (the key changed)."""


def _key_file(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def _load_or_create_key(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    try:
        # O_EXCL: two processes starting at once must not each write a different key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    os.chmod(path, 0o600)
    return key


@lru_cache(maxsize=8)
def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def fernet(settings: Settings | None = None) -> Fernet:
    settings = settings or get_settings()
    secret = settings.secret_key or _load_or_create_key(_key_file(settings))
    return _fernet(secret)


def encrypt_json(value: dict[str, Any], settings: Settings | None = None) -> str:
    return fernet(settings).encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


def decrypt_json(token: str, settings: Settings | None = None) -> dict[str, Any]:
    try:
        data = json.loads(fernet(settings).decrypt(token.encode()))
    except InvalidToken as exc:
        raise CredentialsUnreadable("stored credentials cannot be decrypted: was FANHUB_SECRET_KEY changed?") from exc
    if not isinstance(data, dict):
        raise CredentialsUnreadable("stored credentials are not an object")
    return data
