"""The raw probe connection over TLS (rediss://): redis-py does the handshake, we the traffic."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from janitor.adapters.redis.connection import RedisTarget
from janitor.app.inventory import scan_instance
from janitor.config.settings import load_settings
from tests.conftest import RedisFactory
from tests.support.redis_server import free_port
from tests.support.server_build import requires_tls

pytestmark = requires_tls()


def make_certificates(directory: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 (EC keys: fast to make)."""
    paths = {name: directory / name for name in ("ca.key", "ca.crt", "server.key", "server.crt")}
    csr, extensions = directory / "server.csr", directory / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_key, ca_crt = paths["ca.key"], paths["ca.crt"]
    ca_subject = ["-subj", "/CN=janitor-test-ca"]
    server_out = ["-out", paths["server.crt"], "-days", "1", "-extfile", extensions]
    commands = [
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca_crt, "-days", "1", *ca_subject],
        ["req", *ec, "-keyout", paths["server.key"], "-out", csr, "-subj", "/CN=127.0.0.1"],
        [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca_crt,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            *server_out,
        ],
    ]
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make the test certificates (.ci/run installs it)"
    for command in commands:
        subprocess.run([openssl, *map(str, command)], check=True, capture_output=True)
    return paths


def test_scan_over_tls_with_a_verified_certificate(
    redis_factory: RedisFactory, tmp_path: Path
) -> None:
    certificates = make_certificates(tmp_path)
    tls_port = free_port()
    server = redis_factory(
        {
            "tls-port": str(tls_port),
            "tls-cert-file": str(certificates["server.crt"]),
            "tls-key-file": str(certificates["server.key"]),
            "tls-ca-cert-file": str(certificates["ca.crt"]),
            "tls-auth-clients": "no",
        }
    )
    client = server.client()
    for index in range(2500):
        client.set(f"k:{index}", "v" * (index % 50))
    url = f"rediss://127.0.0.1:{tls_port}"
    redis_options = {"urls": [url], "tls_ca_file": str(certificates["ca.crt"])}
    for budget in (1.0, 0.5):  # the overlapped and the paced path
        overrides = {"redis": redis_options, "scan": {"max_server_cpu": budget, "count": 300}}
        settings = load_settings(None, overrides=overrides, environ={})
        target = RedisTarget(url, settings)
        scan = scan_instance(target, settings)
        target.close()
        assert scan.aggregates.total.keys == 2500, budget
        assert scan.aggregates.by_type["string"].keys == 2500
