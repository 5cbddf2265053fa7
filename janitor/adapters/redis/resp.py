"""Pipelined raw RESP over a redis-py connection: pre-packed commands out, hiredis replies in.

redis-py packs every command with generic Python code and parses every reply through several
layers; for the scanner's millions of tiny probes that costs more than the server's work. Here a
whole batch is one pre-encoded buffer, sent on a connection borrowed from the client's pool (so
AUTH, TLS, unix sockets, the DB and timeouts are redis-py's), and the replies are read with a
``hiredis.Reader`` straight off that connection's socket.

Error replies come back as ``hiredis.ReplyError`` *values* so the caller decides which ones are
fatal (``to_redis_error`` gives the exception redis-py would raise, e.g. ``NoPermissionError``);
I/O failures are raised as redis-py's ``ConnectionError``/``TimeoutError``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import hiredis
import redis
from redis._parsers.base import BaseParser

_READ_SIZE = 1 << 18
_NOT_ENOUGH_DATA = object()


def encode_arg(value: bytes | str | int) -> bytes:
    """Return one RESP bulk string (``$len\\r\\nvalue\\r\\n``)."""
    if isinstance(value, int):
        value = str(value).encode()
    elif isinstance(value, str):
        value = value.encode()
    return b"$%d\r\n%b\r\n" % (len(value), value)


def pack_command(*args: bytes | str | int) -> bytes:
    """Return the RESP encoding of one command."""
    return b"*%d\r\n" % len(args) + b"".join(encode_arg(arg) for arg in args)


def to_redis_error(reply: Exception) -> redis.RedisError:
    """Map an error reply to the exception redis-py would raise (NOPERM → NoPermissionError)."""
    error: redis.RedisError = BaseParser.parse_error(str(reply))
    return error


class RawConnection:
    """One connection borrowed from ``client``'s pool for raw pipelined traffic.

    Use as a context manager: the connection goes back to the pool when every reply was read,
    and is closed instead when the exchange was interrupted (unread replies would poison it).
    """

    def __init__(self, client: redis.Redis) -> None:
        self._pool = client.connection_pool
        self._connection: Any = self._pool.get_connection()
        try:
            self._connection.connect()
        except BaseException:
            self._pool.release(self._connection)
            raise
        self._reader = hiredis.Reader(notEnoughData=_NOT_ENOUGH_DATA)
        self._surplus: list[Any] = []
        self._owed = 0
        self._buffer = bytearray(_READ_SIZE)  # reused by every read: no allocation per reply

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Return the connection to the pool (or drop it when replies are still owed)."""
        if self._connection is None:
            return
        if self._owed:
            self._connection.disconnect()
        self._pool.release(self._connection)
        self._connection = None

    def send(self, packed: bytes, replies: int) -> None:
        """Send pre-packed commands that will produce ``replies`` replies."""
        self._owed += replies
        sock = self._connection._sock  # see _receive
        if sock is None:
            self._connection.send_packed_command([packed], check_health=False)
            return
        try:
            sock.sendall(packed)
        except TimeoutError:
            raise redis.TimeoutError("Timeout writing to socket") from None
        except OSError as error:
            raise redis.ConnectionError(f"Error while writing to socket: {error}") from None

    def read(self, count: int) -> list[Any]:
        """Return the next ``count`` replies in order; error replies are ``hiredis.ReplyError``."""
        reader = self._reader
        replies = self._surplus
        replies += iter(reader.gets, _NOT_ENOUGH_DATA)
        while len(replies) < count:
            reader.feed(self._buffer, 0, self._receive())  # type: ignore[arg-type]  # any buffer
            replies += iter(reader.gets, _NOT_ENOUGH_DATA)
        self._surplus = replies[count:]
        self._owed -= count
        return replies[:count] if self._surplus else replies

    def _receive(self) -> int:
        """Read what the socket has into the buffer; return how many bytes."""
        # redis-py keeps the connected (possibly TLS) socket in ``_sock``: private, but stable
        # from redis-py 4 to 8, and every scanner test goes through this line.
        sock = self._connection._sock
        if sock is None:
            raise redis.ConnectionError("connection closed")
        try:
            received: int = sock.recv_into(self._buffer)
        except TimeoutError:
            raise redis.TimeoutError("Timeout reading from socket") from None
        except OSError as error:
            raise redis.ConnectionError(f"Error while reading from socket: {error}") from None
        if not received:
            raise redis.ConnectionError("Connection closed by server.")
        return received
