"""Encryption at rest: one model field family on `cryptography`'s MultiFernet.

Keys come from settings.ENCRYPTION_KEYS (newest first). Values are encrypted with the newest key and decrypt with
any listed key, so `manage.py rotate_encryption_keys` can re-encrypt rows after a new key is put in front.
A value no listed key opens raises DecryptionError: ciphertext is never passed off as data.
"""

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    """No configured key opens the value: ENCRYPTION_KEYS lacks the key it was written with."""


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe base64-encoded bytes); "
            "see .env.example for the command that generates one."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.ENCRYPTION_KEYS))


def encrypt_str(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt_str(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "An encrypted value could not be decrypted with any key in ENCRYPTION_KEYS "
            "(was a key removed before rotate_encryption_keys ran?)."
        ) from exc


def rotate_token(token: str) -> str:
    """Re-encrypt `token` under the newest key (MultiFernet.rotate); raises DecryptionError if no key opens it."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("An encrypted value could not be decrypted with any key in ENCRYPTION_KEYS.") from exc


class EncryptedTextField(models.TextField):
    """A str stored as a Fernet token. Not searchable or orderable (nothing secret should be)."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return self.decode(decrypt_str(value))

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt_str(self.encode(value))

    def to_python(self, value):
        return value

    def encode(self, value) -> str:
        return str(value)

    def decode(self, value: str):
        return value


class EncryptedJSONField(EncryptedTextField):
    """A JSON-serialisable value (usually a dict of credentials) stored as one Fernet token."""

    def encode(self, value) -> str:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    def decode(self, value: str):
        return json.loads(value)


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    """Every model with encrypted columns, and those columns: what rotate_encryption_keys walks."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        names = [f.attname for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            found.append((model, names))
    return found
