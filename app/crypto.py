"""Encryption of platform credentials at rest.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) gives authenticated encryption with a
timestamped token format; `MultiFernet` lets `TOKEN_ENCRYPTION_KEY` hold several
comma-separated keys so keys can be rotated: the first encrypts, all decrypt.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class CredentialError(RuntimeError):
    """A stored credential cannot be decrypted with any configured key."""


def _fernet(key_setting: str) -> MultiFernet:
    keys = [k.strip() for k in key_setting.split(",") if k.strip()]
    return MultiFernet([Fernet(k.encode()) for k in keys])


def encrypt(plaintext: str, key_setting: str | None = None) -> str:
    keys = key_setting or current_app.config["TOKEN_ENCRYPTION_KEY"]
    return _fernet(keys).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str, key_setting: str | None = None) -> str:
    keys = key_setting or current_app.config["TOKEN_ENCRYPTION_KEY"]
    try:
        return _fernet(keys).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise CredentialError(
            "stored credential cannot be decrypted with TOKEN_ENCRYPTION_KEY"
        ) from exc
