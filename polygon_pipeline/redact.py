"""Secret-free renderings of URLs: provider URLs carry API keys in the path, query or userinfo."""

from __future__ import annotations

from urllib.parse import urlsplit

_HIDDEN = "***"


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


def scrub(text: str, secret_urls: list[str]) -> str:
    """Remove every secret URL, and the secret part of it (path, query, credentials), from
    `text`: library error messages (requests, aiohttp) quote URLs and paths verbatim."""
    for url in secret_urls:
        if not url:
            continue
        text = text.replace(url, redact_url(url))
        parts = urlsplit(url)
        for secret in (
            parts.path + ("?" + parts.query if parts.query else ""),
            parts.path,
            parts.query,
            parts.password or "",
            parts.username or "",
        ):
            if secret.strip("/"):
                text = text.replace(secret, "/" + _HIDDEN)
    return text
