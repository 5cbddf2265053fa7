"""``redis+sentinel://`` URLs (pure parsing and validation).

``redis+sentinel://[user:password@]host:port[,host:port...]/service_name[/db]``: the sentinels
to ask, the service (the name Sentinel monitors) and an optional DB. The credentials are those of
the Redis servers (and of the sentinels when they ask for them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

SCHEME = "redis+sentinel://"
_SERVICE = re.compile(r"^[A-Za-z0-9._:-]+$")


@dataclass(frozen=True)
class SentinelUrl:
    """A parsed Sentinel URL."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int | None = None
    username: str | None = None
    password: str | None = None

    def data_url(self, host: str, port: int) -> str:
        """The ``redis://`` URL of a data node found through the sentinels (same credentials)."""
        auth = ""
        if self.password is not None or self.username:
            auth = f"{quote(self.username or '', safe='')}:{quote(self.password or '', safe='')}@"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        db = f"/{self.db}" if self.db is not None else ""
        return f"redis://{auth}{host}:{port}{db}"


def is_sentinel_url(url: str) -> bool:
    """True for a ``redis+sentinel://`` URL."""
    return url.startswith(SCHEME)


def _endpoint(text: str) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = text.rpartition(":")
    if not host or not port_text:
        raise ValueError(f"sentinel {text!r} must be host:port")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"sentinel {text!r} has a bad port")
    return host, int(port_text)


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Parse and validate ``url``; ValueError says what is wrong (never echoing a password)."""
    if not is_sentinel_url(url):
        raise ValueError("a Sentinel URL starts with redis+sentinel://")
    rest = url[len(SCHEME) :]
    if "?" in rest or "#" in rest:
        raise ValueError("a Sentinel URL takes no query or fragment")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user_text, colon, password_text = userinfo.partition(":")
        username = unquote(user_text) or None
        password = unquote(password_text) if colon else None
    if not hosts:
        raise ValueError("a Sentinel URL needs at least one sentinel host:port")
    sentinels = tuple(_endpoint(item) for item in hosts.split(",") if item)
    parts = [part for part in path.split("/") if part]
    if not parts:
        raise ValueError("a Sentinel URL needs the service name: redis+sentinel://h:p/name")
    if len(parts) > 2 or not _SERVICE.match(parts[0]):
        raise ValueError("the path must be /service_name or /service_name/db")
    db = None
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise ValueError("the DB after the service name must be a number")
        db = int(parts[1])
    return SentinelUrl(sentinels, parts[0], db, username, password)
