"""Redis URLs: checked up front (scheme, host, port, IPv6 literal, DB) and masked for display.

A URL that does not parse must stop the command before anything connects (exit 78, naming the
URL with its password masked), rather than being half-understood: a DB that is not a number
would otherwise be dropped and every DB scanned.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

SCHEMES = ("redis", "rediss", "unix")
MAX_DB = 2**31 - 1
_USERINFO = re.compile(r"^(?P<scheme>[^:/]*://)(?P<user>[^:@/]*):(?P<password>[^@/]*)@")


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe to log and print), even when the rest
    of the URL does not parse."""
    try:
        parts = urlsplit(url)
        password, port, hostname = parts.password, parts.port, parts.hostname
    except ValueError:
        return _USERINFO.sub(r"\g<scheme>\g<user>:***@", url)
    if password is None:
        return url
    host = hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if port is not None:
        host = f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def url_db(url: str) -> int | None:
    """The DB the URL names (``redis://h/3``, ``?db=3``), None when it names none.

    Raises ValueError (with the reason) for a DB that is not a whole number in range.
    """
    parts = urlsplit(url)
    texts = []
    if parts.scheme != "unix" and parts.path.strip("/"):
        texts.append(("path", unquote(parts.path).strip("/")))
    query = parse_qs(parts.query, keep_blank_values=True)
    for value in query.get("db", []):
        texts.append(("db=", value))
    if not texts:
        return None
    dbs = set()
    for where, text in texts:
        if not text.isdigit():
            raise ValueError(f"the DB ({where}) must be a whole number, not {text!r}")
        if int(text) > MAX_DB:
            raise ValueError(f"the DB {text} is out of range")
        dbs.add(int(text))
    if len(dbs) > 1:
        raise ValueError(f"the URL names two DBs: {sorted(dbs)}")
    return dbs.pop()


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a usable Redis URL, or None when it is."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES or "://" not in url:
            named = parts.scheme or url.split(":", 1)[0]
            return f"unknown scheme {named!r} (use redis://, rediss:// or unix://)"
        port = parts.port
        if scheme == "unix":
            if not parts.path:
                return "a unix:// URL needs a socket path (unix:///run/redis/redis.sock)"
        elif not parts.hostname:
            return "the host is missing"
        elif port == 0:
            return "the port must be between 1 and 65535"
        url_db(url)
    except ValueError as error:
        reason = str(error)
        if "Port" in reason:
            return "the port must be a number between 1 and 65535"
        if "IPv6" in reason:
            return "broken IPv6 literal (write it as [::1])"
        return reason
    return None
