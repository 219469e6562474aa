"""Secret-free renderings of text: provider URLs carry API keys in the path, the query or the
userinfo, database URLs a password, and providers and libraries quote them verbatim."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl, quote, unquote, urlsplit

_HIDDEN = "***"
# The words of the providers' documented URL shapes that name a route, not a credential. In a
# configured provider URL every other path segment and query value is a secret, whatever it
# looks like: keys are not always long mixes of letters and digits (`my-team-secret-projkey`,
# a 26-letter lowercase key, `k9X7z2` were all shown in clear by a shape-based guess).
#   Alchemy     https://polygon-mainnet.g.alchemy.com/v2/KEY (wss: the same path)
#               www.alchemy.com/rpc/matic
#   Infura      https://polygon-mainnet.infura.io/v3/KEY, wss://.../ws/v3/KEY
#               docs.metamask.io/services/get-started/endpoints/
#   Ankr        https://rpc.ankr.com/polygon/KEY (chain names: polygon, polygon_amoy, ...;
#               wss: /polygon/ws/KEY)  www.ankr.com/docs/api-reference/
#   dRPC        https://lb.drpc.org/ogrpc?network=polygon&dkey=KEY (wss: /ogws)
#               lens.xyz/docs/chain/tools/rpc/drpc
#   Goldsky     https://edge.goldsky.com/standard/evm/137?secret=KEY  docs.goldsky.com
#   QuickNode   https://NAME.matic.quiknode.pro/KEY/, Chainstack
#               https://polygon-mainnet.core.chainstack.com/KEY, public polygon-rpc.com: no
#               route word (the name is in the host, which is never hidden)
#   the devnet  http://127.0.0.1:PORT/v2/KEY, its Data API stand-in at /data-api
ROUTE_WORDS = frozenset(
    {
        "v2",
        "v3",
        "ws",
        "polygon",
        "polygon_amoy",
        "polygon_mumbai",
        "matic",
        "ogrpc",
        "ogws",
        "standard",
        "evm",
        "137",
        "data-api",
        "gamma",  # the devnet's Gamma stand-in, like its Data API's
    }
)
# How a secret is found in text depends on its length. A long one (KEY_MIN_CHARS or more)
# wherever it occurs: nothing innocent equals a key that long. A shorter one as a whole token
# only (`k9X7z2` in "key 'k9X7z2'", not inside a longer word). One of 1 to 3 characters only
# where it sits in a URL (after `/` or `=`, plain or percent-encoded): as a bare token it
# would hide every "a" or "id" of every message, and no provider issues keys that short.
KEY_MIN_CHARS = 8
BARE_MIN_CHARS = 4
_TOKEN = re.compile(r"[A-Za-z0-9_.~-]+")  # the characters of a URL segment that is one token
_NOT_AFTER = r"(?![A-Za-z0-9_~-])"
_ENCODED_SEPARATOR = r"(?<=%2F)|(?<=%2f)|(?<=%3D)|(?<=%3d)"  # `/` or `=`, percent-encoded
_BARE = rf"(?:{_ENCODED_SEPARATOR}|(?<![A-Za-z0-9_~-])){{}}" + _NOT_AFTER
_IN_URL = rf"(?:{_ENCODED_SEPARATOR}|(?<=/)|(?<==)){{}}" + _NOT_AFTER


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
    if len(password) >= BARE_MIN_CHARS:
        found.add(password)
    return _encoded(found)


def url_secrets(url: str) -> set[str]:
    """What of a provider URL must never be shown: the URL itself, every path segment and
    query value that is not a route word (ROUTE_WORDS), the user and the password, each also
    decoded and percent-encoded. Not the host, nor a query parameter's name."""
    try:
        parts = urlsplit(url)
        password, user = parts.password, parts.username
    except ValueError:
        return {url}
    found = {url} if redact_url(url) != url else set()  # a bare host is no secret
    found |= {s for s in parts.path.split("/") if unquote(s) not in ROUTE_WORDS}
    found |= {value for _, value in parse_qsl(parts.query) if value not in ROUTE_WORDS}
    if user:
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
        text = _hide(value, text)
    return text


def _hide(value: str, text: str) -> str:
    """`text` with `value` hidden where it occurs as a secret (see KEY_MIN_CHARS)."""
    if len(value) >= KEY_MIN_CHARS or not _TOKEN.fullmatch(value):
        # long, or with its own context (`:pw@`): wherever it occurs
        return text.replace(value, redact_url(value) if _is_url(value) else _HIDDEN)
    if value not in text:
        return text
    shape = _BARE if len(value) >= BARE_MIN_CHARS else _IN_URL
    return re.sub(shape.format(re.escape(value)), _HIDDEN, text)


def provider_labels(urls: Sequence[str]) -> list[str]:
    """A name for each provider fit for doctor, /metrics and the store: its host (and port),
    never its path or query, where keys live; `#2`, `#3` on a host listed again (two keys
    at one provider). The same list gives the same names in every process."""
    labels: list[str] = []
    for url in urls:
        shown = redact_url(url).split("://", 1)[-1].removesuffix("/" + _HIDDEN)
        host = shown.rsplit("@", 1)[-1]
        seen = sum(1 for label in labels if label.split("#", 1)[0] == host)
        labels.append(host if not seen else f"{host}#{seen + 1}")
    return labels
