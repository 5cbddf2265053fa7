"""rediss:// against a real TLS redis-server with a self-signed certificate."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tests.support.redis_server import RedisServer
from tests.support.server_build import requires_tls

pytestmark = requires_tls()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server that only listens with TLS, its certificate self-signed for 127.0.0.1."""
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make the test certificate (.ci/run installs it)"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = RedisServer(tmp_path / "redis", tls_cert=cert, tls_key=key).start()
    yield server
    server.stop()


def test_rediss_needs_the_ca_and_then_works(
    tls_server: RedisServer, run_cli: Callable[..., CliResult]
) -> None:
    tls_server.client().set("secure:key", "v" * 100)
    assert tls_server.url.startswith("rediss://")
    untrusted = run_cli("report", "--url", tls_server.url)
    assert untrusted.exit_code == 69
    assert "certificate verify failed" in untrusted.stderr
    env = {"JANITOR_REDIS__TLS_CA_FILE": str(tls_server.tls_cert)}
    trusted = run_cli("report", "--url", tls_server.url, "--format", "json", env=env)
    assert trusted.exit_code == 0, trusted.stderr
    assert trusted.json()["top_keys"][0]["key"] == "secure:key"
