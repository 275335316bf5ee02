"""Encryption of connector credentials at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key is the deployment secret (`fanhub.secrets`: `FANHUB_SECRET_KEY`, or a generated key file
beside the database), stretched with SHA-256; `fanhub.secrets.fernet` is shared with the other
secrets stored at rest (DKIM keys).
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import InvalidToken

from fanhub.config import Settings
from fanhub.secrets import fernet


class CredentialsUnreadable(Exception):
    """The stored credentials cannot be decrypted with the current key (the key changed)."""


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
