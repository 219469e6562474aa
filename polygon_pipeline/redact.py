"""Secret-free renderings of text: provider URLs carry API keys in the path, the query or the
userinfo, database URLs a password, and providers and libraries quote them verbatim."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlsplit

_HIDDEN = "***"
# A path segment or value that is a word (`v2`, `polygon-mainnet`, `data-api`) names a route,
# not a credential; keys (Alchemy, Infura, QuickNode, Ankr) are long mixes of letters and
# digits.
_PLAIN_WORD = re.compile(r"[a-z]+(?:[-_.][a-z]+)*")
_KEY_MIN_CHARS = 8
# A query parameter with such a name holds a credential whatever its value looks like.
_SECRET_PARAM = re.compile(r"key|token|secret|auth|pass|sig", re.IGNORECASE)
# Shorter values are only hidden in context (`:pw@`): hiding every `ab` would mangle text.
_BARE_MIN_CHARS = 4


def redact_url(url: str) -> str:
    """Keep scheme, host and port; hide credentials, path and query, where keys live.

    `https://polygon-mainnet.g.alchemy.com/v2/KEY` -> `https://polygon-mainnet.g.alchemy.com/***`
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return _HIDDEN
    if not parts.scheme or not host:
        return _HIDDEN
    user = f"{_HIDDEN}@" if parts.username or parts.password else ""
    hidden_rest = "/" + _HIDDEN if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{user}{host}{port}{hidden_rest}"


def redact_db_url(url: str) -> str:
    """Database URLs: the database name is useful and not secret, the password is."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is still never echoed
        return _HIDDEN


def _key_like(value: str) -> bool:
    return len(value) >= _KEY_MIN_CHARS and not _PLAIN_WORD.fullmatch(value)


def _is_url(text: str) -> bool:
    try:
        return "://" in text and bool(urlsplit(text).hostname)
    except ValueError:
        return False


def _encoded(values: Iterable[str]) -> set[str]:
    """Each value as written, decoded and percent-encoded: an echo may show any of them."""
    found = set()
    for value in values:
        if value:
            found |= {value, unquote(value), quote(value, safe=""), quote(value)}
    return found


def _password_secrets(password: str | None) -> set[str]:
    if not password:
        return set()
    found = {f":{password}@"}
    if len(password) >= _BARE_MIN_CHARS:
        found.add(password)
    return _encoded(found)


def url_secrets(url: str) -> set[str]:
    """What of a provider URL must never be shown: the URL itself, its key-like path
    segments, its query values that are key-like or named like a credential, a key-like user
    and the password, each also decoded and percent-encoded. Not the host, nor a path word."""
    try:
        parts = urlsplit(url)
        password, user = parts.password, parts.username
    except ValueError:
        return {url}
    found = {url} if redact_url(url) != url else set()  # a bare host is no secret
    found |= {s for s in parts.path.split("/") if _key_like(unquote(s))}
    for name, value in parse_qsl(parts.query):
        if _key_like(value) or (_SECRET_PARAM.search(name) and len(value) >= _BARE_MIN_CHARS):
            found.add(value)
    if user and _key_like(user):
        found.add(user)
    return _encoded(found) | _password_secrets(password)


def db_url_secrets(url: str) -> set[str]:
    """What of a database URL must never be shown: its password only. The user (`app`) and
    the database name are not secrets, and hiding them mangles error messages and paths."""
    try:
        return _password_secrets(urlsplit(url).password)
    except ValueError:
        return {url}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in `text`, longest first: a URL by its redacted form, anything
    else by ***. A URL among `secrets` stands for all its secret parts (url_secrets)."""
    values: set[str] = set()
    for secret in secrets:
        if secret:
            values |= url_secrets(secret) if _is_url(secret) else {secret}
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, redact_url(value) if _is_url(value) else _HIDDEN)
    return text
