"""Encryption of connector credentials at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key is the deployment secret (`fanhub.secrets`: `FANHUB_SECRET_KEY`, or a generated key file
beside the database), stretched with SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from fanhub.config import Settings, get_settings
from fanhub.secrets import deployment_secret


class CredentialsUnreadable(Exception):
    """The stored credentials cannot be decrypted with the current key (the key changed)."""


@lru_cache(maxsize=8)
def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


def fernet(settings: Settings | None = None) -> Fernet:
    return _fernet(deployment_secret(settings or get_settings()))


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
