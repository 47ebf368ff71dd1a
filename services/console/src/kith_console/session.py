"""The session: an encrypted, authenticated, HttpOnly SameSite cookie holding the visitor's API key and CSRF token.

The cookie is AES-GCM under a key derived from ``CONSOLE_SESSION_SECRET``: the browser holds it but can
neither read the API key in it nor change it, and the server keeps nothing, so any replica serves any
visitor. Every visitor, signed in or not, has one (an anonymous session carries only its CSRF token),
so that every form, the sign-in form included, carries a token that must match the session's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

COOKIE: Final = "kith_console"
#: Associated data binding a cookie to its purpose (a cookie of another app under the same secret is refused).
_PURPOSE: Final = b"kith-console-session-v1"


@dataclass
class Session:
    """Who is signed in (if anyone), with what, and the CSRF token of their forms."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    key: str | None = None
    tenant: str | None = None
    scopes: list[str] = field(default_factory=list)
    issued: float = field(default_factory=time.time)

    @property
    def signed_in(self) -> bool:
        """Tell whether an API key is held."""
        return self.key is not None

    def allows(self, scope: str) -> bool:
        """Tell whether the key carries ``scope`` (``admin`` carries every one)."""
        return scope in self.scopes or "admin" in self.scopes

    def csrf_matches(self, token: str | None) -> bool:
        """Tell whether a form's token is this session's."""
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class SessionBox:
    """Seals sessions into cookie values and opens them again."""

    def __init__(self, secret: str, max_age_seconds: float) -> None:
        self._aead = AESGCM(hashlib.sha256(b"kith-console-cookie\n" + secret.encode()).digest())
        self.max_age_seconds = max_age_seconds

    def seal(self, session: Session) -> str:
        """Return the cookie value of a session."""
        nonce = secrets.token_bytes(12)
        body = json.dumps(
            {"c": session.csrf, "k": session.key, "t": session.tenant, "s": session.scopes, "i": session.issued}
        ).encode()
        return base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, body, _PURPOSE)).decode()

    def open(self, value: str | None) -> Session | None:
        """Return the session in a cookie value, or None when it is missing, forged, unreadable or expired."""
        if not value:
            return None
        try:
            raw = base64.urlsafe_b64decode(value.encode())
            body = json.loads(self._aead.decrypt(raw[:12], raw[12:], _PURPOSE))
            session = Session(
                csrf=str(body["c"]),
                key=body["k"],
                tenant=body["t"],
                scopes=[str(s) for s in body["s"]],
                issued=float(body["i"]),
            )
        except (InvalidTag, ValueError, KeyError, TypeError):
            return None
        if time.time() - session.issued > self.max_age_seconds:
            return None
        return session
