"""Settings: the one place that decides defaults.

Layers of configuration, later wins:
1. the defaults declared on `Settings` below;
2. `conf/local.toml` (git-ignored; `BREWLAKE_CONF_DIR` moves conf/), keys named like the fields;
3. environment variables `BREWLAKE_<FIELD>` (and the standard AWS ones for credentials/region).

Secrets (AWS keys) are read from the environment only and never printed: `Settings.__repr__`
masks them, and `public_dict()` leaves them out.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from brewlake.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENV_PREFIX = "BREWLAKE_"
_SECRET_FIELDS = frozenset({"aws_access_key_id", "aws_secret_access_key", "aws_session_token"})
# Fields read from the standard AWS variables rather than BREWLAKE_*.
_AWS_ENV = {
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID",),
    "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "aws_session_token": ("AWS_SESSION_TOKEN",),
    "aws_region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
}


@dataclass(frozen=True)
class Settings:
    """Typed, frozen configuration for every layer. Build it with `load_settings()`."""

    # --- where things are
    lake_root: str = "./lake"
    conf_dir: str = str(PROJECT_ROOT / "conf")
    jars_dir: str = str(PROJECT_ROOT / ".jars")
    # --- source API
    api_url: str = "https://api.openbrewerydb.org"
    api_page_size: int = 200
    api_concurrency: int = 4
    api_rate_limit_per_minute: int = 110
    api_connect_timeout_s: float = 5.0
    api_read_timeout_s: float = 30.0
    api_max_retries: int = 6
    api_backoff_factor_s: float = 0.5
    api_total_tolerance: float = 0.0
    # --- object store
    s3_endpoint: str = ""
    aws_region: str = "us-east-1"
    aws_access_key_id: str = field(default="", repr=False)
    aws_secret_access_key: str = field(default="", repr=False)
    aws_session_token: str = field(default="", repr=False)
    # --- spark
    spark_master: str = "local[*]"
    spark_shuffle_partitions: int = 0  # 0: auto (`Settings.shuffle_partitions`)
    spark_driver_memory: str = "2g"
    spark_ui_enabled: bool = True
    spark_log_level: str = "WARN"
    # --- quality
    quarantine_max_share: float = 0.05
    # --- monitoring and alerting
    gold_sla_hours: float = 26.0
    alert_sns_topic_arn: str = ""
    alert_webhook_url: str = ""
    alert_timeout_s: float = 5.0
    events_prefix: str = "_monitoring/events"
    # --- logging
    log_format: str = "text"
    log_level: str = "INFO"
    # Where the CLI writes Spark's own output (JVM start-up lines, log4j), one file per run; a
    # local folder even when the lake is on S3. Created git-ignored (a `*` .gitignore inside).
    log_dir: str = "./logs"

    def __post_init__(self) -> None:
        _validate(self)

    # Derived values: computed, never stored, so they cannot disagree with lake_root.
    @property
    def is_s3(self) -> bool:
        return urlparse(self.lake_root).scheme in ("s3", "s3a")

    @property
    def uses_s3(self) -> bool:
        """The lake is on S3, or S3 is configured (endpoint or keys): Spark needs the s3a jars."""
        return self.is_s3 or bool(self.effective_s3_endpoint or self.aws_access_key_id)

    @property
    def shuffle_partitions(self) -> int:
        """`spark_shuffle_partitions`, or when 0 (auto): one per core for a local master (more
        tasks than cores only add scheduling cost on small data), 64 on a cluster; adaptive
        query execution coalesces what turns out too small either way."""
        if self.spark_shuffle_partitions > 0:
            return self.spark_shuffle_partitions
        master = self.spark_master.strip()
        if master == "local":
            return 1
        if master.startswith("local["):
            cores = master[len("local[") :].split(",")[0].rstrip("]")
            return int(cores) if cores.isdigit() else max(1, os.cpu_count() or 1)
        return 64

    @property
    def spark_lake_root(self) -> str:
        """The lake root as Spark/Hadoop must see it (`s3a://` for S3, absolute path locally)."""
        if self.is_s3:
            parsed = urlparse(self.lake_root)
            return f"s3a://{parsed.netloc}{parsed.path}".rstrip("/")
        return str(Path(self.lake_root).expanduser().resolve())

    @property
    def s3_bucket(self) -> str:
        return urlparse(self.lake_root).netloc

    @property
    def s3_prefix(self) -> str:
        return urlparse(self.lake_root).path.strip("/")

    @property
    def effective_s3_endpoint(self) -> str:
        """`BREWLAKE_S3_ENDPOINT`, else the AWS SDK's own endpoint variables, else '' (= AWS)."""
        return (
            self.s3_endpoint
            or os.environ.get("AWS_ENDPOINT_URL_S3", "")
            or os.environ.get("AWS_ENDPOINT_URL", "")
        )

    def public_dict(self) -> dict[str, Any]:
        """Every setting except secrets: safe to log or print."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _SECRET_FIELDS}

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _validate(s: Settings) -> None:
    scheme = urlparse(s.lake_root).scheme
    if scheme not in ("", "file", "s3", "s3a") and not (len(scheme) == 1 and os.name == "nt"):
        raise ConfigError(
            f"BREWLAKE_LAKE_ROOT={s.lake_root!r}: unsupported scheme {scheme!r}; "
            "use a local path or s3a://bucket/prefix"
        )
    if scheme in ("s3", "s3a") and not urlparse(s.lake_root).netloc:
        raise ConfigError(f"BREWLAKE_LAKE_ROOT={s.lake_root!r}: no bucket; use s3a://bucket/prefix")
    for name in ("api_url", "s3_endpoint", "alert_webhook_url"):
        value = getattr(s, name)
        if value:
            parsed = urlparse(value)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigError(
                    f"{_env_name(name)}={value!r} is not an http(s) URL "
                    "(expected e.g. http://127.0.0.1:9000)"
                )
    if not 1 <= s.api_page_size <= 200:
        raise ConfigError(
            f"BREWLAKE_API_PAGE_SIZE={s.api_page_size}: the API accepts 1..200 per page"
        )
    if s.spark_shuffle_partitions < 0:
        raise ConfigError(
            f"BREWLAKE_SPARK_SHUFFLE_PARTITIONS={s.spark_shuffle_partitions}: use 0 (auto) or more"
        )
    if s.api_concurrency < 1:
        raise ConfigError(f"BREWLAKE_API_CONCURRENCY={s.api_concurrency}: must be at least 1")
    if not 0.0 <= s.quarantine_max_share <= 1.0:
        raise ConfigError(
            f"BREWLAKE_QUARANTINE_MAX_SHARE={s.quarantine_max_share}: must be within 0..1"
        )
    if s.log_format not in ("text", "json"):
        raise ConfigError(f"BREWLAKE_LOG_FORMAT={s.log_format!r}: use 'text' or 'json'")
    log_scheme = urlparse(s.log_dir).scheme
    if log_scheme and not (len(log_scheme) == 1 and os.name == "nt"):
        raise ConfigError(
            f"BREWLAKE_LOG_DIR={s.log_dir!r}: Spark writes its output to a local file; "
            "use a local folder"
        )


def _env_name(field_name: str) -> str:
    aws = _AWS_ENV.get(field_name)
    return aws[0] if aws else ENV_PREFIX + field_name.upper()


def _coerce(name: str, raw: Any, target: Any, source: str) -> Any:
    if isinstance(raw, str):
        raw = raw.strip()
    try:
        if target in (bool, "bool"):
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if target in (int, "int"):
            return int(raw)
        if target in (float, "float"):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{source}: {_env_name(name)}={raw!r} is not a valid "
            f"{getattr(target, '__name__', target)}"
        ) from None


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from defaults, `conf/local.toml` and the environment (then `overrides`)."""
    env = os.environ if env is None else env
    types = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}

    conf_dir = Path(env.get(ENV_PREFIX + "CONF_DIR", Settings.conf_dir))
    local = conf_dir / "local.toml"
    if local.is_file():
        try:
            data = tomllib.loads(local.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{local}: not valid TOML ({exc})") from None
        for key, raw in data.items():
            if key not in types:
                raise ConfigError(f"{local}: unknown setting {key!r}")
            if key in _SECRET_FIELDS:
                raise ConfigError(f"{local}: {key} is a secret; set it in the environment instead")
            values[key] = _coerce(key, raw, types[key], str(local))
    values["conf_dir"] = str(conf_dir)

    for name, kind in types.items():
        for var in _AWS_ENV.get(name, (ENV_PREFIX + name.upper(),)):
            if var in env and env[var] != "":
                values[name] = _coerce(name, env[var], kind, "environment")
                break

    for name, raw in overrides.items():
        if name not in types:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = raw
    return Settings(**values)
