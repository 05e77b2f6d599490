"""Model credentials a project owns: encrypted at rest, write-only, bound to their endpoint.

A secret is entered once (API or admin) and stored as a Fernet token under the platform's
``CREDENTIALS_ENCRYPTION_KEYS`` (the first key encrypts, every key decrypts, so keys rotate without
downtime: prepend a new key, run ``manage.py rotate_credentials``, then drop the old one). Without
that setting a key derived from ``SECRET_KEY`` encrypts; it also decrypts after the configured keys.
The plain secret is never returned, logged or shown: the API and admin show only a hint like ``…a1b2``.

Environment variables can still hold a credential, but only those the operator names in
``MODEL_CREDENTIAL_ENVS`` (``NAME`` or ``NAME@host``, the latter usable only for that host), so no
endpoint can name the platform's own secrets (``SECRET_KEY``, ``DATABASE_URL``, ...).
"""

from __future__ import annotations

import base64
import functools
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

MAX_SECRET_LENGTH = 4096
_HINT_CHARS = 4


class CredentialError(Exception):
    """A stored credential cannot be used (wrong key, variable not allowed or not set)."""


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"llmops-model-credentials", info=b"fernet")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


@functools.cache
def _fernet_for(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    # The key derived from SECRET_KEY always decrypts last: moving from the default to configured keys is
    # one `rotate_credentials` away.
    material = [key.encode() for key in keys] + [_derived_key(secret_key)]
    try:
        return MultiFernet([Fernet(key) for key in material])
    except ValueError:
        raise CredentialError(
            "CREDENTIALS_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe base64-encoded bytes; "
            'make one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
        ) from None


def _fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.CREDENTIALS_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise CredentialError(
            "the stored credential cannot be decrypted with CREDENTIALS_ENCRYPTION_KEYS (was a key removed "
            "before `manage.py rotate_credentials` ran?)"
        ) from None


def rotate_token(token: str) -> str:
    """The token re-encrypted under the first key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialError("a stored credential cannot be decrypted with any configured key") from None


def secret_hint(secret: str) -> str:
    """What the console may show of a secret: its last characters, and only for long secrets."""
    return f"…{secret[-_HINT_CHARS:]}" if len(secret) >= 16 else "…"


def check_secret(secret: str) -> str | None:
    """Why ``secret`` cannot be a credential, or None."""
    if len(secret) > MAX_SECRET_LENGTH:
        return f"must be at most {MAX_SECRET_LENGTH} characters"
    if any(ord(char) < 32 or ord(char) == 127 for char in secret):
        return "must not contain line breaks or control characters"
    return None


def allowed_credential_envs() -> dict[str, str | None]:
    """MODEL_CREDENTIAL_ENVS as {variable: host it is bound to, or None for any host}."""
    allowed: dict[str, str | None] = {}
    for entry in settings.MODEL_CREDENTIAL_ENVS:
        name, _, host = entry.partition("@")
        allowed[name.strip()] = host.strip().lower() or None
    return allowed


def env_credential_refusal(name: str, *, base_url: str) -> str | None:
    """Why an endpoint with this ``base_url`` may not read the variable ``name``, or None."""
    allowed = allowed_credential_envs()
    if name not in allowed:
        listed = ", ".join(sorted(allowed)) or "none"
        return (
            f"'{name}' is not a credential variable the operator allows (MODEL_CREDENTIAL_ENVS: {listed}); "
            "store the key on the endpoint with api_key instead"
        )
    bound_host = allowed[name]
    if bound_host is not None:
        host = (urlsplit(base_url).hostname or "").lower() if base_url else "router.huggingface.co"
        if host != bound_host:
            return f"'{name}' may be sent only to {bound_host}, not to {host}"
    return None
