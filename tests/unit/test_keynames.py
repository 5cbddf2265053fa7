"""Key names are shown like redis-cli shows them, and kept exact in base64."""

import base64

from janitor.core.keynames import escape_key, key_fields


def test_printable_ascii_and_space_stay_readable() -> None:
    assert escape_key(b"user:42 name") == "user:42 name"


def test_control_bytes_quotes_and_invalid_utf8_are_escaped() -> None:
    assert escape_key(b'a\nb\r\t"\\\x00\xff\x07\x08') == 'a\\nb\\r\\t\\"\\\\\\x00\\xff\\a\\b'


def test_utf8_is_escaped_bytewise_like_redis_cli() -> None:
    assert escape_key("é".encode()) == "\\xc3\\xa9"


def test_key_fields_round_trip_exact_bytes() -> None:
    raw = b"\xfe\xff\nspace key"
    fields = key_fields(raw)
    assert base64.b64decode(fields["key_base64"]) == raw
    assert fields["key"] == "\\xfe\\xff\\nspace key"
