"""Key names for people and machines: readable escaped text (like redis-cli) and exact base64."""

from __future__ import annotations

import base64

_ESCAPES = {
    ord("\\"): "\\\\",
    ord('"'): '\\"',
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    0x07: "\\a",
    0x08: "\\b",
}
_TABLE = [
    _ESCAPES.get(byte, chr(byte) if 0x20 <= byte < 0x7F else f"\\x{byte:02x}")
    for byte in range(256)
]


def escape_key(key: bytes) -> str:
    """Return ``key`` as redis-cli prints it (without the surrounding quotes).

    Printable ASCII stays as is; backslash, quote and the usual control characters get C escapes;
    every other byte (including UTF-8 multibyte sequences) becomes ``\\xHH``.
    """
    return "".join(_TABLE[byte] for byte in key)


def key_base64(key: bytes) -> str:
    """Return the exact bytes of ``key`` in standard base64."""
    return base64.b64encode(key).decode("ascii")


def key_fields(key: bytes) -> dict[str, str]:
    """Return the ``key`` / ``key_base64`` pair that every JSON document uses for a key."""
    return {"key": escape_key(key), "key_base64": key_base64(key)}
