"""Only the writer modules send commands that change a server (see docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import redis

from janitor.adapters.redis import key_writes, writer

PACKAGE = Path(writer.__file__).resolve().parents[2]
WRITERS = {Path(writer.__file__).resolve(), Path(key_writes.__file__).resolve()}
WRITE_METHODS = {
    "unlink", "pexpire", "expire", "pexpireat", "expireat", "persist", "config_set", "bgsave",
    "save", "restore", "delete", "flushall", "flushdb", "eval", "evalsha", "getdel", "getex",
    "hset", "lpush", "rpush", "sadd", "zadd", "mset", "setex", "psetex", "setnx", "rename",
    "bgrewriteaof", "shutdown", "config_rewrite", "memory_purge",
}  # fmt: skip
WRITE_WORDS = {
    "UNLINK", "DEL", "PEXPIRE", "EXPIRE", "PEXPIREAT", "PERSIST", "RESTORE", "BGSAVE", "SAVE",
    "PURGE", "MEMORY PURGE", "CONFIG SET", "SET", "FLUSHALL", "FLUSHDB", "EVAL", "EVALSHA",
    "RENAME", "BGREWRITEAOF", "SHUTDOWN",
}  # fmt: skip
NOT_REDIS = {"os", "Path", "path", "stop", "lost", "_stop", "_idle", "_started", "scheduler"}
NOT_REDIS |= {"writer"}  # the writer module itself: the one door


def _receiver(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def offending_calls(source: str) -> list[str]:
    """``method(`` calls and write-command words sent as a command, outside the writer."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name, receiver = node.func.attr, _receiver(node.func.value)
        if name in WRITE_METHODS and receiver not in NOT_REDIS and not receiver.endswith("path"):
            found.append(f"line {node.lineno}: .{name}(")
        if name in ("execute_command", "pipeline_execute_command") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and str(first.value).upper() in WRITE_WORDS:
                found.append(f"line {node.lineno}: execute_command({first.value!r})")
            if isinstance(first, ast.Constant) and str(first.value).upper() in ("MEMORY", "CONFIG"):
                words = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
                if words and str(words[0]).upper() in ("PURGE", "SET"):
                    found.append(f"line {node.lineno}: execute_command({first.value!r}, ...)")
        if name == "set" and receiver not in NOT_REDIS and node.keywords:
            found.append(f"line {node.lineno}: .set(... with options")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.List) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and first.value in WRITE_WORDS - {"SET", "SAVE"}:
                found.append(f"line {node.lineno}: command list [{first.value!r}, ...]")
    return found


def janitor_modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if path.resolve() not in WRITERS)


def test_the_scan_sees_the_package() -> None:
    assert len(janitor_modules()) > 50


@pytest.mark.parametrize("path", janitor_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_but_the_writer_changes_redis(path: Path) -> None:
    assert offending_calls(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "client.unlink(key)",
        "pipe.pexpire(key, 10)",
        "client.config_set('save', '')",
        "client.bgsave()",
        "client.execute_command('MEMORY', 'PURGE')",
        "client.execute_command('MEMORY PURGE')",
        "client.execute_command('SET', key, value)",
        "pipe.execute_command(*['UNLINK', key])",
        "client.restore(key, 0, payload)",
        "client.set(key, token, nx=True)",
        "client.eval(script, 1, key)",
    ],
)
def test_the_scan_catches_each_kind_of_write(snippet: str) -> None:
    assert offending_calls(snippet)


def test_the_writer_itself_sends_writes() -> None:
    assert offending_calls(Path(writer.__file__).read_text(encoding="utf-8"))
    assert offending_calls(Path(key_writes.__file__).read_text(encoding="utf-8"))


def test_every_writer_call_refuses_a_dry_run_before_sending_anything() -> None:
    client = redis.Redis(host="127.0.0.1", port=1)  # never connected: the refusal comes first
    pipe = client.pipeline()
    calls = [
        lambda: writer.config_set(client, "save", "", dry_run=True),
        lambda: writer.bgsave(client, dry_run=True),
        lambda: writer.memory_purge(client, dry_run=True),
        lambda: writer.lock_take(client, b"k", b"t", 1000, dry_run=True),
        lambda: writer.lock_take_over(client, b"k", b"old", b"t", 1000, dry_run=True),
        lambda: writer.lock_renew(client, b"k", b"t", 1000, dry_run=True),
        lambda: writer.lock_release(client, b"k", b"t", dry_run=True),
        lambda: key_writes.commit_watched(pipe, key_writes.unlink_command(b"k"), dry_run=True),
        lambda: key_writes.restore_key(client, b"k", None, b"p", replace=False, dry_run=True),
    ]
    for call in calls:
        with pytest.raises(writer.DryRunWriteError, match="dry run"):
            call()
