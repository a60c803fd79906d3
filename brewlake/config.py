"""Settings: the one place that decides defaults.

Layers of configuration, later wins:
1. the defaults declared on `Settings` below;
2. `conf/local.toml` (git-ignored; `BREWLAKE_CONF_DIR` moves conf/), keys named like the fields;
3. environment variables `BREWLAKE_<FIELD>` (and the standard AWS ones for credentials/region);
4. keyword overrides given to `load_settings`.

Secrets (AWS keys) are read from the environment only and never printed: `Settings.__repr__`
masks them, and `public_dict()` leaves them out. `docs/configuration.md` is rendered from the
fields below (`python -m brewlake.config > docs/configuration.md`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

from brewlake.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENV_PREFIX = "BREWLAKE_"
# The environment `load_settings` is reading; unset, `Settings(...)` is defaults plus arguments.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("brewlake_environ", default=None)


def _aws(*variables: str, default: str = "", is_secret: bool = False, description: str) -> Any:
    """A field set by the standard AWS variables (the first set wins), not by `BREWLAKE_*`.

    Its own name (the first variable in lower case) stays a choice so that arguments and
    local.toml can use it: `validate_by_name` would do that too, but also read BREWLAKE_AWS_*.
    A secret is left out of repr and `public_dict`, and refused in local.toml.
    """
    choices = AliasChoices(*variables, variables[0].lower())
    return Field(default, repr=not is_secret, validation_alias=choices, description=description)


def is_local_master(master: str) -> bool:
    """A Spark master URL that runs Spark in the driver's JVM (`local`, `local[n]`, ...)."""
    return master.strip().startswith("local")


class Settings(BaseSettings):
    """Typed, frozen configuration for every layer. Build it with `load_settings()`."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        str_strip_whitespace=True,
    )

    # --- where things are
    lake_root: str = Field(
        "./lake", description="The lake: a local folder or s3a://bucket/prefix (s3:// too)."
    )
    conf_dir: str = Field(
        str(PROJECT_ROOT / "conf"), description="Folder of `local.toml`; environment only."
    )
    jars_dir: str = Field(
        str(PROJECT_ROOT / ".jars"), description="Folder of the Spark jars `make jars` fetches."
    )
    jars_on_every_node: bool = Field(
        False,
        description="The jars folder is at the same path on every Spark node (one image, a shared "
        "volume): driver and executors have the jars on their class path, read from their own "
        "disk, instead of each executor copying ~700 MB from the driver (a local master always "
        "does).",
    )
    # --- source API
    api_url: str = Field("https://api.openbrewerydb.org", description="Open Brewery DB base URL.")
    api_page_size: int = Field(200, ge=1, le=200, description="Records per page (the API: 1..200).")
    api_concurrency: int = Field(4, ge=1, description="Pages fetched at once; at least 1.")
    api_rate_limit_per_minute: int = Field(
        110, description="Requests per minute across all workers; 0: no limit."
    )
    api_connect_timeout_s: float = Field(5.0, description="Seconds to connect to the API.")
    api_read_timeout_s: float = Field(30.0, description="Seconds to wait for an API response.")
    api_max_retries: int = Field(6, description="Retries of a failed or cut-off API request.")
    api_backoff_factor_s: float = Field(
        0.5, description="Seconds of the first retry backoff (and its jitter); doubles."
    )
    api_total_tolerance: float = Field(
        0.0, description="Share of /meta's totals the fetch may differ by (0.01 = 1 %)."
    )
    # --- object store
    s3_endpoint: str = Field(
        "", description="S3-compatible endpoint URL; empty: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL."
    )
    aws_region: str = _aws(
        "AWS_REGION", "AWS_DEFAULT_REGION", default="us-east-1", description="Region of S3 and SNS."
    )
    aws_access_key_id: str = _aws(
        "AWS_ACCESS_KEY_ID", is_secret=True, description="Access key; empty: the AWS chain."
    )
    aws_secret_access_key: str = _aws(
        "AWS_SECRET_ACCESS_KEY", is_secret=True, description="Secret of the access key."
    )
    aws_session_token: str = _aws(
        "AWS_SESSION_TOKEN", is_secret=True, description="Session token of temporary keys."
    )
    # --- spark
    spark_master: str = Field("local[*]", description="Spark master URL.")
    spark_shuffle_partitions: int = Field(
        0,
        ge=0,
        description="Shuffle partitions; 0: one per core (a local master's, or on a cluster the "
        "executors' when the session starts).",
    )
    spark_driver_memory: str = Field("2g", description="Memory of the Spark driver.")
    spark_jit: Literal["auto", "quick", "full"] = Field(
        "auto",
        description="JIT of the Spark JVMs: quick (C1 only, queries not code-generated), "
        "full (tiered, whole-stage code generation), auto (quick for a newest bronze batch "
        "under 16 MB).",
    )
    spark_gc: Literal["parallel", "g1"] = Field(
        "parallel",
        description="Garbage collector of the Spark JVMs: parallel (throughput: batch runs are "
        "~10 % faster on 2 cores) or g1 (the JVM's default, shorter pauses).",
    )
    spark_ui_enabled: bool = Field(True, description="Start the Spark web UI.")
    spark_log_level: str = Field("WARN", description="Log level of Spark itself.")
    # --- quality
    quarantine_max_share: float = Field(
        0.05, ge=0.0, le=1.0, description="Share of quarantined rows (0..1) that fails a run."
    )
    # --- monitoring and alerting
    gold_sla_hours: float = Field(
        26.0, description="Hours since gold's last success before `status` reports it late."
    )
    alert_sns_topic_arn: str = Field("", description="SNS topic that receives alerts; empty: off.")
    alert_webhook_url: str = Field("", description="Webhook that receives alerts; empty: off.")
    alert_timeout_s: float = Field(5.0, description="Seconds to deliver one alert.")
    events_prefix: str = Field(
        "_monitoring/events",
        description="Run-event archive: a path under the lake, or s3://bucket/prefix.",
    )
    # --- the HTML report
    report_enabled: bool = Field(
        True, description="Gold writes the HTML report to <lake>/reports/ after every run."
    )
    report_map_points: int = Field(
        5000, ge=1, description="Breweries plotted on the report's map at most (a stable sample)."
    )
    # --- logging
    log_format: str = Field("text", description="Log line format: text or json.")
    log_level: str = Field("INFO", description="Log level of brewlake.")
    log_dir: str = Field(
        "./logs",
        description="Local folder (even for an S3 lake) of Spark's own output, a file per run.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        if environ is None:  # `replace` and plain `Settings(...)` read nothing from outside
            return (init_settings,)
        return (
            init_settings,
            _MappingEnvSource(settings_cls, environ),
            _LocalTomlSource(settings_cls, _local_toml(environ)),
        )

    # Each rule says what is wrong and the fix; `_config_error` puts `VARIABLE=value: ` first.
    @field_validator("lake_root")
    @classmethod
    def _lake_root_is_local_or_s3(cls, value: str) -> str:
        scheme = urlparse(value).scheme
        if scheme not in ("", "file", "s3", "s3a") and not _is_drive(scheme):
            raise ValueError(
                f"unsupported scheme {scheme!r}; use a local path or s3a://bucket/prefix"
            )
        if scheme in ("s3", "s3a") and not urlparse(value).netloc:
            raise ValueError("no bucket; use s3a://bucket/prefix")
        return value

    @field_validator("api_url", "s3_endpoint", "alert_webhook_url")
    @classmethod
    def _is_http_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if value and (parsed.scheme not in ("http", "https") or not parsed.netloc):
            raise ValueError("not an http(s) URL (expected e.g. http://127.0.0.1:9000)")
        return value

    @field_validator("log_format")
    @classmethod
    def _is_known_format(cls, value: str) -> str:
        if value not in ("text", "json"):
            raise ValueError("use 'text' or 'json'")
        return value

    @field_validator("log_dir")
    @classmethod
    def _is_local_folder(cls, value: str) -> str:
        if urlparse(value).scheme and not _is_drive(urlparse(value).scheme):
            raise ValueError("Spark writes its output to a local file; use a local folder")
        return value

    # Derived values: computed, never stored, so they cannot disagree with lake_root.
    @property
    def is_s3(self) -> bool:
        return urlparse(self.lake_root).scheme in ("s3", "s3a")

    @property
    def uses_s3(self) -> bool:
        """The lake is on S3, or S3 is configured (endpoint or keys): Spark needs the s3a jars."""
        return self.is_s3 or bool(self.effective_s3_endpoint or self.aws_access_key_id)

    @property
    def local_master(self) -> bool:
        """Spark runs in the driver's JVM (`local`, `local[n]`, `local[*]`...), not on a cluster."""
        return is_local_master(self.spark_master)

    @property
    def shuffle_partitions(self) -> int:
        """`spark_shuffle_partitions`, or when 0 (auto): one per core for a local master (more
        tasks than cores only add scheduling cost on small data); on a cluster, 64 until the
        session knows its executors' cores (`brewlake.spark.fit_to_cluster` then sets one per
        core). Adaptive query execution coalesces what turns out too small either way."""
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
        return self.model_dump(exclude=_SECRET_FIELDS)

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes`, validated like the original."""
        try:
            return type(self)(**{**self.model_dump(), **changes})
        except ValidationError as exc:
            raise _config_error(exc, lambda name: "argument") from None


_SECRET_FIELDS = frozenset(name for name, f in Settings.model_fields.items() if not f.repr)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of `os.environ`."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class _LocalTomlSource(TomlConfigSettingsSource):
    """`conf/local.toml`: any field but the secrets and conf_dir itself."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path):
        try:
            super().__init__(settings_cls, toml_file=path)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        for key in self.toml_data:
            if key not in Settings.model_fields:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            if key in _SECRET_FIELDS:
                raise ConfigError(f"{path}: {key} is a secret; set it in the environment instead")
            if key == "conf_dir":
                raise ConfigError(f"{path}: conf_dir cannot move itself; set {_env_name(key)}")


def _local_toml(environ: Mapping[str, str]) -> Path:
    conf_dir = environ.get(ENV_PREFIX + "CONF_DIR") or Settings.model_fields["conf_dir"].default
    return Path(conf_dir) / "local.toml"


def _is_drive(scheme: str) -> bool:
    """`C:` in `C:\\lake` parses as a scheme; on Windows it is a local path."""
    return len(scheme) == 1 and os.name == "nt"


def _variables(field_name: str) -> tuple[str, ...]:
    """The variables that set a field, first wins: `BREWLAKE_<FIELD>`, or the standard AWS ones."""
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(choice) for choice in alias.choices if str(choice).isupper())
    return (ENV_PREFIX + field_name.upper(),)


def _env_name(field_name: str) -> str:
    return _variables(field_name)[0]


def _config_error(exc: ValidationError, origin: Callable[[str], str | Path]) -> ConfigError:
    """pydantic's errors as one line: each names the variable (or local.toml and the key), the
    value and what is wrong. `origin(field)`: "environment", "argument" or local.toml's path."""
    problems = []
    for error in exc.errors(include_url=False):
        key = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown setting {key!r}")
            continue
        name = next(n for n in Settings.model_fields if key == n or key.upper() in _variables(n))
        source = origin(name)
        where = f"{source}: {name}" if isinstance(source, Path) else _env_name(name)
        if error["type"].endswith(("_parsing", "_type")) or error["type"] == "int_from_float":
            kind = getattr(Settings.model_fields[name].annotation, "__name__", "value")
            problem = f"{where}={error['input']!r} is not a valid {kind}"
            problems.append(f"environment: {problem}" if source == "environment" else problem)
        else:
            cause = error.get("ctx", {}).get("error") or error["msg"]
            # The field's own description says what a valid value is: the fix, in one line.
            hint = (Settings.model_fields[name].description or "").rstrip(".")
            problems.append(f"{where}={error['input']!r}: {cause}" + (f" ({hint})" if hint else ""))
    return ConfigError("; ".join(problems))


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from defaults, `conf/local.toml` and the environment (then `overrides`)."""
    environ = os.environ if env is None else env

    def origin(name: str) -> str | Path:
        if name in overrides:
            return "argument"
        if any(map(environ.get, _variables(name))):
            return "environment"
        return _local_toml(environ)  # the defaults are valid: a bad value set nowhere else

    token = _ENVIRON.set(environ)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise _config_error(exc, origin) from None
    finally:
        _ENVIRON.reset(token)


def reference_markdown() -> str:
    """The configuration reference (`docs/configuration.md`): one row per field of `Settings`."""
    rows = [
        "# Configuration reference",
        "",
        "Generated from `brewlake.config.Settings` by `python -m brewlake.config`; do not edit.",
        "",
        "Later layers win: the defaults below, then `conf/local.toml` (keys are the field names;",
        "never secrets), then the environment variables below (empty counts as unset), then",
        "arguments in code.",
        "",
        "| Variable | Field | Type | Default | Meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, f in Settings.model_fields.items():
        variables = ", ".join(f"`{v}`" for v in _variables(name))
        default = str(f.default).replace(str(PROJECT_ROOT), "<checkout>")
        default = f"`{default}`" if default else "empty"
        kind = getattr(f.annotation, "__name__", str(f.annotation))
        secret = " Secret: environment only, never printed." if name in _SECRET_FIELDS else ""
        rows.append(f"| {variables} | `{name}` | {kind} | {default} | {f.description}{secret} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
