"""Configuration: a TOML file, ``JANITOR_*`` environment, secret files and CLI overrides.

Precedence, highest first: command-line flags, environment (``JANITOR_SCAN__COUNT=500``),
the TOML file (``--config FILE`` or ``$JANITOR_CONFIG``), then defaults. The Redis password may
also come from ``redis.password_file`` (``--password-file``; refused when the group or others may
read it) or systemd's ``$CREDENTIALS_DIRECTORY/redis-password``.
Every section rejects unknown keys, so a typo is an error rather than a silently ignored option.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

from janitor.config.policy_settings import ArchiveSettings, PolicySettings
from janitor.config.redis_url import mask_url, url_problem
from janitor.config.sentinel_url import is_sentinel_url, parse_sentinel_url
from janitor.core.errors import ConfigError
from janitor.core.units import parse_duration, parse_size

ENV_PREFIX = "JANITOR_"
DEFAULT_CONFIG_PATH = Path("/etc/redis-janitor/janitor.toml")
CREDENTIAL_PASSWORD_NAME = "redis-password"
_ENV_NOT_SETTINGS = frozenset({"JANITOR_CONFIG"})

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
"""A duration in seconds; accepts ``30d``, ``12h``, ``90`` in files and env."""
Bytes = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]
"""A size in bytes; accepts ``10MiB``, ``1GB``, ``512`` in files and env."""

_toml_path: ContextVar[Path | None] = ContextVar("janitor_toml_path", default=None)
_environ: ContextVar[Mapping[str, str]] = ContextVar("janitor_environ", default=os.environ)


class _MappingEnvSource(EnvSettingsSource):
    """The environment source, reading a given mapping instead of ``os.environ``."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            _environ.get(), self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class Section(BaseModel):
    """Base for config sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class RedisSettings(Section):
    """How to reach the Redis instances to look after."""

    urls: list[str] = Field(
        default=["redis://127.0.0.1:6379"],
        min_length=1,
        description="redis://, rediss://, unix:// or redis+sentinel:// URLs; /N: only DB N.",
    )
    nodes: Literal["local", "this", "all"] = Field(
        default="local",
        description="Redis Cluster: which nodes to scan: local (redis-server on this host), "
        "this (the node of the URL) or all; Sentinel: all adds the replicas to report/headroom.",
    )
    discover: bool = Field(
        default=False,
        description="Also look after every redis-server/valkey-server listening on this host.",
    )
    username: str | None = Field(default=None, description="ACL user name.")
    password: SecretStr | None = Field(default=None, description="Password (prefer password_file).")
    password_file: Path | None = Field(
        default=None, description="File whose first line is the password."
    )
    connect_timeout: Seconds = Field(default=5.0, description="TCP/unix connect timeout.")
    socket_timeout: Seconds = Field(default=30.0, description="Reply timeout for one command.")
    tls_ca_file: Path | None = Field(default=None, description="CA bundle for rediss://.")
    tls_cert_file: Path | None = Field(
        default=None, description="Client certificate for rediss://."
    )
    tls_key_file: Path | None = Field(default=None, description="Client key for rediss://.")
    tls_verify: bool = Field(default=True, description="Verify the server's TLS certificate.")

    @field_validator("urls")
    @classmethod
    def _known_schemes(cls, urls: list[str]) -> list[str]:
        problems = [
            f"{mask_url(url)}: {problem}"
            for url in urls
            if not is_sentinel_url(url) and (problem := url_problem(url))
        ]
        if problems:
            raise ValueError("; ".join(problems))
        for url in urls:
            if is_sentinel_url(url):
                parse_sentinel_url(url)  # ValueError: what is wrong, never the password
        return urls


def _one_or_more(value: Any) -> Any:
    """Accept one glob as a list of one (``match = "cache:*"`` as before); empty means unset."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and not value:
        return None
    return value


class ScanSettings(Section):
    """How the keyspace is walked."""

    count: int = Field(default=1000, ge=1, le=100_000, description="SCAN COUNT hint per call.")
    samples: int = Field(
        default=5, ge=0, description="MEMORY USAGE SAMPLES (0 walks whole values: slow)."
    )
    match: Annotated[list[str] | None, BeforeValidator(_one_or_more)] = Field(
        default=None, description="Only keys matching one of these globs (one: SCAN MATCH)."
    )
    exclude: Annotated[list[str] | None, BeforeValidator(_one_or_more)] = Field(
        default=None, description="Leave out keys matching any of these globs."
    )
    type: str | None = Field(default=None, description="SCAN TYPE filter (string, hash, ...).")
    dbs: list[int] | None = Field(default=None, description="Only these DBs (default: all).")
    pause: Seconds = Field(default=0.0, description="Pause between probe batches (throttle).")
    max_server_cpu: float = Field(
        default=0.4,
        gt=0,
        le=1,
        description="Share of Redis's main thread the scan may use (0.4 = 40%); 1: no cap.",
    )
    parallel_instances: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Instances report/run/rescue/serve work on side by side (acting in turn).",
    )
    max_client_cpu: float = Field(
        default=1.0, gt=0, description="Janitor CPU (cores) all side-by-side scans share."
    )
    max_duration: Seconds = Field(
        default=600.0,
        description="A run stops scanning after this long and the next run resumes; 0: no cap.",
    )
    max_batch_server_time: Seconds = Field(
        default=25e-6,
        ge=0,
        description="Longest one scan request may hold Redis (other clients wait); 0: no bound.",
    )
    nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Steps the scanning thread lowers its CPU priority by (like nice -n); 0: none.",
    )


class ReportSettings(Section):
    """What the dry-run report aggregates."""

    top: int = Field(default=50, ge=0, le=100_000, description="How many largest keys to list.")
    prefix_separators: list[str] = Field(
        default=[":"], description="Characters that end a key prefix."
    )
    max_prefixes: int = Field(
        default=1000, ge=1, description="Distinct prefixes tracked; the rest count as (other)."
    )
    sample: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Share of keys fully probed for the type/idle/TTL tables (1: every key).",
    )


def _percent_or_size(value: Any) -> str:
    """Accept ``5%`` (of MemTotal) or a size (``512MiB``); keep the text, reject anything else."""
    text = str(value).strip()
    if text.endswith("%"):
        percent = float(text[:-1])
        if not 0 <= percent < 100:
            raise ValueError("a percentage must be between 0 and 100")
        return text
    parse_size(text)
    return text


class HeadroomSettings(Section):
    """How fork headroom is measured and judged (see docs/domain.md §2)."""

    proc_root: Path = Field(default=Path("/proc"), description="Where procfs is mounted.")
    cgroup_root: Path = Field(
        default=Path("/sys/fs/cgroup"), description="Where the cgroup v2 hierarchy is mounted."
    )
    sys_root: Path = Field(
        default=Path("/sys"), description="Where sysfs is mounted (transparent huge pages mode)."
    )
    margin: Annotated[str, BeforeValidator(_percent_or_size)] = Field(
        default="5%",
        description="Headroom below this is a warning: a size, or a percent of MemTotal.",
    )
    cow_fraction: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Expected copy-on-write, as a fraction of RSS, when Redis never forked.",
    )
    saves_overlap: bool = Field(
        default=True, description="Saves of instances on this host may run at the same time."
    )
    counter_margin_percent: float = Field(
        default=0.4, ge=0, le=10, description="Percent of RAM kept for the approximate counter."
    )
    pid_start_tolerance: Seconds = Field(
        default=10.0, description="How far the process start may differ from INFO uptime."
    )
    forecast_warn: Seconds = Field(
        default=86400.0,
        description="Warn when the forecast says the headroom reaches the margin sooner (0: off).",
    )
    dirty_page_window: bool = Field(
        default=False,
        description="run/serve: measure the pages Redis dirties between measurements from the "
        "kernel's soft-dirty bits (clears them: a minor fault on the next write to each page).",
    )


class LoggingSettings(Section):
    """Log output (always on stderr)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: console on a terminal, JSON lines otherwise."
    )


class RescueSettings(Section):
    """Bringing back an instance that refuses writes after a failed BGSAVE (MISCONF)."""

    enabled: bool = Field(
        default=False, description="Scheduled runs rescue an instance they find in MISCONF."
    )
    state_dir: Path = Field(
        default=Path("/var/lib/redis-janitor/rescue"),
        description="Where original settings are recorded before a rescue changes them.",
    )
    bgsave_timeout: Seconds = Field(
        default=600.0, gt=0, description="How long to wait for the rescue's BGSAVE."
    )
    max_rounds: int = Field(
        default=10, ge=1, le=1000, description="Free → MEMORY PURGE → measure rounds at most."
    )
    log_tail_bytes: Bytes = Field(
        default=64 * 1024, ge=1024, description="How much of the Redis log's end to read."
    )
    probe_with_bgsave: bool = Field(
        default=True,
        description="After a refused fork (ENOMEM), try BGSAVE after every free round.",
    )
    round_bytes: Bytes = Field(
        default=64 * 1024**2,
        ge=1,
        description="Bytes freed per round when the headroom model names no need.",
    )


class HistorySettings(Section):
    """The recorded samples (one per instance per measurement) and the forecast drawn from them."""

    enabled: bool = Field(default=True, description="Record a sample at every measurement.")
    path: Path | None = Field(
        default=None, description="History file; default history.jsonl in the state directory."
    )
    max_bytes: Bytes = Field(
        default=8 * 1024**2, ge=4096, description="Size cap; the oldest samples are dropped."
    )
    forecast_window: Seconds = Field(
        default=7 * 86400.0, gt=0, description="How far back the forecast looks."
    )
    forecast_min_samples: int = Field(
        default=4, ge=2, le=1000, description="Samples a forecast needs (since the last cleanup)."
    )
    forecast_min_span: Seconds = Field(default=600.0, description="Time those samples must span.")


class ServiceSettings(Section):
    """The ``serve`` daemon's schedule, the run lock and where local state lives."""

    cron: str | None = Field(
        default=None, description="Crontab schedule (5 fields, UTC); wins over every."
    )
    every: Seconds = Field(default=900.0, gt=0, description="Interval between cycles.")
    jitter: Seconds = Field(default=0.0, description="Random delay added to each cycle.")
    misfire_grace: Seconds = Field(
        default=300.0, gt=0, description="A cycle later than this after its time is skipped."
    )
    retry_max_backoff: Seconds = Field(
        default=300.0, gt=0, description="Longest wait between retries while Redis is down."
    )
    lock_ttl: Seconds = Field(
        default=60.0, ge=1, description="Redis lock expiry; renewed every third of it."
    )
    state_dir: Path | None = Field(
        default=None,
        description="Local state (lock files); default $STATE_DIRECTORY or a per-user dir.",
    )

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, cron: str | None) -> str | None:
        if cron is not None and len(cron.split()) != 5:
            raise ValueError("a crontab expression has 5 fields: minute hour day month weekday")
        return cron


class MetricsSettings(Section):
    """Prometheus metrics: a textfile for node_exporter and, in serve mode, HTTP."""

    textfile: Path | None = Field(
        default=None, description="Write metrics here after every cycle (*.prom)."
    )
    listen: str | None = Field(
        default=None, description="serve: HTTP /metrics on HOST:PORT (e.g. 127.0.0.1:9808)."
    )

    @field_validator("listen")
    @classmethod
    def _host_port(cls, listen: str | None) -> str | None:
        if listen is not None:
            host, _, port = listen.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9808")
        return listen


class Settings(BaseSettings):
    """The whole effective configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    redis: RedisSettings = RedisSettings()
    scan: ScanSettings = ScanSettings()
    report: ReportSettings = ReportSettings()
    headroom: HeadroomSettings = HeadroomSettings()
    logging: LoggingSettings = LoggingSettings()
    policy: PolicySettings = PolicySettings()
    archive: ArchiveSettings = ArchiveSettings()
    rescue: RescueSettings = RescueSettings()
    service: ServiceSettings = ServiceSettings()
    metrics: MetricsSettings = MetricsSettings()
    history: HistorySettings = HistorySettings()
    _config_file: Path | None = PrivateAttr(default=None)

    @property
    def config_file(self) -> Path | None:
        """The TOML file these settings were read from (None: defaults, environment, flags)."""
        return self._config_file

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources: CLI overrides, environment, then the TOML file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, _MappingEnvSource(settings_cls)]
        toml_path = _toml_path.get()
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    def redis_password(self) -> str | None:
        """Return the configured password, if any (never log it)."""
        return self.redis.password.get_secret_value() if self.redis.password else None


def load_settings(
    config_path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the effective settings, or raise ConfigError with ``field: reason`` lines.

    ``config_path`` None means ``$JANITOR_CONFIG`` or the default path if it exists; a path
    that was given explicitly must exist. ``overrides`` are nested dicts from CLI flags.
    """
    environ = os.environ if environ is None else environ
    path = _choose_config_path(config_path, environ)
    _reject_unknown_env(environ)
    toml_token, environ_token = _toml_path.set(path), _environ.set(environ)
    try:
        settings = Settings(**_drop_none(overrides or {}))
    except ValidationError as error:
        raise ConfigError(list(_describe(error))) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{path}: not valid TOML ({error})"]) from None
    finally:
        _toml_path.reset(toml_token)
        _environ.reset(environ_token)
    _resolve_password(settings, environ)
    settings._config_file = path
    return settings


def _choose_config_path(config_path: Path | None, environ: Mapping[str, str]) -> Path | None:
    if config_path is None and environ.get("JANITOR_CONFIG"):
        config_path = Path(environ["JANITOR_CONFIG"])
    if config_path is None:
        return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None
    if not config_path.is_file():
        raise ConfigError([f"config: {config_path}: no such file"])
    if not os.access(config_path, os.R_OK):
        raise ConfigError([f"config: {config_path}: not readable by this user"])
    return config_path


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """Remove unset CLI flags (None) so they do not override lower layers."""
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Mapping):
            nested = _drop_none(value)
            if nested:
                cleaned[name] = nested
        elif value is not None:
            cleaned[name] = value
    return cleaned


def _describe(error: ValidationError) -> Iterator[str]:
    """Yield ``field: reason`` lines; the offending value is never echoed (it may be a secret)."""
    for problem in error.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in problem["loc"]) or "config"
        reason = problem["msg"]
        if problem["type"] == "extra_forbidden":
            reason = "unknown setting (a typo?)"
        yield f"{field}: {reason}"


def _known_env_names(model: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        env_name = f"{prefix}{name}".upper()
        yield env_name
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _known_env_names(annotation, f"{env_name}__")


def _reject_unknown_env(environ: Mapping[str, str]) -> None:
    known = set(_known_env_names(Settings, ENV_PREFIX)) | _ENV_NOT_SETTINGS
    unknown = sorted(
        name
        for name in environ
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known
    )
    if unknown:
        raise ConfigError([f"{name}: unknown setting (a typo?)" for name in unknown])


def _resolve_password(settings: Settings, environ: Mapping[str, str]) -> None:
    """Fill ``redis.password`` from password_file or systemd credentials when not set directly."""
    if settings.redis.password is not None:
        return
    candidates: list[tuple[str, Path]] = []
    if settings.redis.password_file is not None:
        candidates.append(("redis.password_file", settings.redis.password_file))
    elif environ.get("CREDENTIALS_DIRECTORY"):
        credential = Path(environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_PASSWORD_NAME
        if credential.is_file():
            candidates.append(("CREDENTIALS_DIRECTORY", credential))
    for field, path in candidates:
        if field == "redis.password_file":
            _refuse_shared_file(field, path)
        try:
            first_line = path.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise ConfigError([f"{field}: cannot read {path}: {error.strerror}"]) from None
        if not first_line or not first_line[0]:
            raise ConfigError([f"{field}: {path} is empty"])
        settings.redis.password = SecretStr(first_line[0])


def _refuse_shared_file(field: str, path: Path) -> None:
    """Refuse a password file that the group or others may read, as an archive dir is refused.

    systemd credentials are not checked: systemd hands them over in a private directory.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as error:
        raise ConfigError([f"{field}: cannot read {path}: {error.strerror}"]) from None
    if mode & 0o077:
        raise ConfigError(
            [
                f"{field}: {path} has mode {mode:04o}, so other users can read the password; "
                f"chmod 600 {path}"
            ]
        )
