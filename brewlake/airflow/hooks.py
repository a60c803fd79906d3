"""Airflow glue kept out of the DAG file: job paths, render-time macros, the retry policy and
task callbacks.

`dags/brewlake_medallion.py` imports this module while the DAG is parsed, so at import time it
touches only the standard library, the Airflow task SDK and `brewlake.config`'s constants: no
settings are loaded, no file is read, pyspark and the layer packages are never imported.
Everything that reads the environment, `conf/local.toml` or the jars folder runs inside a function
that Airflow calls when a task runs (template macros, the retry policy, callbacks).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from brewlake.config import PROJECT_ROOT, Settings
from brewlake.errors import ConfigError, SetupError, first_line

try:
    from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryDecision, RetryRule
except ImportError:  # Airflow < 3.3 (MWAA's 3.0.6): no retry policies, every failure is retried
    ExceptionRetryPolicy = object  # type: ignore[assignment,misc]
    HAS_RETRY_POLICY = False
else:
    HAS_RETRY_POLICY = True

# `retry_exponential_backoff`: a multiplier on the task SDK that has retry policies (2.0 doubles the
# delay each try; `True` would mean 1.0, no backoff); the older SDK (MWAA's 3.0.6) type-checks it as
# a bool, where `True` doubles.
RETRY_BACKOFF: float | bool = 2.0 if HAS_RETRY_POLICY else True

LAYERS = ("bronze", "silver", "gold")
# The Airflow connection every layer submits through; AIRFLOW_CONN_BREWLAKE_SPARK provides it.
SPARK_CONN_ID = "brewlake_spark"
LOCAL_SPARK_CONN = '{"conn_type": "spark", "host": "local[*]"}'

# Properties spark-submit must not receive from us: the master comes from the connection, served
# jars go through --jars, and credentials reach the job through its environment (a --conf value
# shows up in `ps`, in the task log and in the rendered-template view).
_NOT_ON_COMMAND_LINE = ("spark.master", "spark.jars")
_SECRET_MARKERS = ("secret", "access.key", "session.token", "password", "token")
# What `guarded()` (brewlake.errors) prints when a job fails: the line worth alerting on.
_JOB_ERROR_PREFIX = "brewlake: error:"
_CLASS_SUFFIXES = ("Error", "Exception", "Breach", "Exit", "Interrupt")
# What the alert sinks read (brewlake.ops.alerts): where conf/ is, alert targets, AWS credentials.
_ALERT_ENV_PREFIXES = ("BREWLAKE_CONF_DIR", "BREWLAKE_ALERT_", "AWS_")
# Exit codes `guarded()` gives errors no retry can fix; spark-submit exits with the job's code.
NOT_RETRIED_EXIT_CODES = {
    ConfigError.exit_code: ConfigError.__name__,
    SetupError.exit_code: SetupError.__name__,
}
# How SparkSubmitHook.submit() words a non-zero exit: "Cannot execute: <cmd>. Error code is: 2."
_SUBMIT_EXIT_CODE = re.compile(r"\. Error code is: (\d+)\.")


class MissingSparkConnection(ConfigError):
    """The `brewlake_spark` Airflow connection is not defined."""


def job_path(layer: str) -> str:
    """The `job.py` spark-submit runs for `layer` (inside the installed project)."""
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
    return str(PROJECT_ROOT / layer / "job.py")


# ---- render-time macros (called when a task's templates are rendered, never at parse time)


def _launch(*, quick: bool | None = False) -> tuple[dict[str, str], dict[str, str]]:
    """How the submitted job's driver JVM must be started (`brewlake.spark.launch_conf`):
    (properties, environment). The jars must be on the JVMs' class path at launch: through
    `spark.jars` (`--jars`), or the class path itself when every JVM has them on its own disk.
    That is so when `jars_on_every_node` says it, and under a local master (the connection's),
    whose one JVM is the driver, started on this worker: through `--jars` it would copy every
    jar (~700 MB with the s3a ones) into a scratch folder at each submit. `quick` decides the
    JIT mode (None: from the newest bronze batch, as the job's own session decides it); only the
    JVM options depend on it."""
    from brewlake.config import is_local_master, load_settings
    from brewlake.spark import jar_paths, launch_conf

    settings = load_settings()
    try:
        jars = jar_paths(settings)
    except SetupError as exc:
        raise SetupError(f"{exc}; or point BREWLAKE_JARS_DIR at the folder holding them") from None
    on_class_path = settings.jars_on_every_node or is_local_master(connection_master())
    return launch_conf(settings, jars, on_class_path=on_class_path, quick=quick)


def spark_jars() -> str:
    """`--jars` value: the jars the driver serves to the executors (none when they are on every
    node's class path: `spark_submit_conf` then passes that class path)."""
    return _launch()[0].get("spark.jars", "")


def spark_submit_conf() -> dict[str, str]:
    """`--conf` properties for spark-submit: brewlake's Spark properties, minus master/jars/secrets.

    Launch-time properties (driver memory, class path and JVM options, the Python the driver and
    executors run) only take effect when given to spark-submit: with them the submitted driver
    maps brewlake's class archive and compiles as `brewlake run`'s does (a cold silver submit
    of ~8.4 k records: ~15.5 s against ~23 s with the collector alone). The rest repeat what the
    job's session builder sets anyway, so the submitted application is self-describing in the
    task log.
    """
    from brewlake.config import load_settings
    from brewlake.spark import spark_conf

    conf = {
        key: value
        for key, value in {**spark_conf(load_settings()), **_launch(quick=None)[0]}.items()
        if key not in _NOT_ON_COMMAND_LINE
        and not any(marker in key.lower() for marker in _SECRET_MARKERS)
    }
    # The driver runs where the task runs: the worker's interpreter has brewlake installed.
    conf["spark.pyspark.driver.python"] = sys.executable
    conf["spark.pyspark.python"] = os.environ.get("PYSPARK_PYTHON") or sys.executable
    return conf


def spark_submit_env() -> dict[str, str]:
    """Extra environment for the job: the master the `brewlake_spark` connection submits to, and
    what the driver's class path needs beyond `--conf` (`SPARK_DIST_CLASSPATH`, see `_launch`).

    The job's session builder applies `BREWLAKE_SPARK_MASTER`, which would otherwise override
    spark-submit's `--master`; handing it the connection's master makes the connection decide.
    """
    return {"BREWLAKE_SPARK_MASTER": connection_master(), **_launch()[1]}


def connection_master() -> str:
    """The master URL the `brewlake_spark` connection submits to, resolved as the Spark
    provider's hook resolves it (host, port, conn_type), so both agree on every form."""
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(SPARK_CONN_ID)
    except AirflowNotFoundException:
        # Without it the provider silently falls back to `--master yarn`. Anything else (the API
        # server unreachable, say) propagates as it is, and is retried.
        raise MissingSparkConnection(
            f"Airflow connection {SPARK_CONN_ID!r} is not defined: set "
            f"AIRFLOW_CONN_BREWLAKE_SPARK, e.g. '{LOCAL_SPARK_CONN}'"
        ) from None
    return SparkSubmitHook(conn_id=SPARK_CONN_ID)._connection["master"]


# ---- the deployment switch: where the three layer jobs run

SPARK_SUBMIT, ECS = "spark-submit", "ecs"
SPARK_BACKENDS = (SPARK_SUBMIT, ECS)
ECS_CONTAINER = "brewlake"


def deployment_setting(name: str, default: str | None = "", env: Mapping[str, str] | None = None):
    """`BREWLAKE_<name>`, else `AIRFLOW__BREWLAKE__<name>` (an MWAA configuration option
    `brewlake.<name>` as workers see it), else `default`. The environment only: no file is read."""
    env = os.environ if env is None else env
    return env.get(f"BREWLAKE_{name}") or env.get(f"AIRFLOW__BREWLAKE__{name}") or default


def spark_backend(env: Mapping[str, str] | None = None) -> str:
    """`spark-submit` (default: the `brewlake_spark` connection) or `ecs` (one ECS task of the
    project image per layer, as deploy/aws sets up). Read when the DAG is parsed."""
    value = str(deployment_setting("SPARK_BACKEND", SPARK_SUBMIT, env)).strip().lower()
    if value not in SPARK_BACKENDS:
        raise ConfigError(
            f"BREWLAKE_SPARK_BACKEND={value!r}: expected one of {', '.join(SPARK_BACKENDS)}"
        )
    return value


def ecs_setting(name: str, default: str | None = None) -> str:
    """`BREWLAKE_ECS_<name>` when a task renders its templates; required unless `default`."""
    value = deployment_setting(f"ECS_{name}", default)
    if value is None:
        raise ConfigError(
            f"BREWLAKE_ECS_{name} is not set: the ecs backend needs it "
            f"(or the MWAA option brewlake.ecs_{name.lower()}); see docs/deploy-aws.md"
        )
    return value


def _ids(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def ecs_network() -> dict[str, Any]:
    """`awsvpcConfiguration` for a Fargate task in the deployment's private subnets."""
    config: dict[str, Any] = {
        "subnets": _ids(ecs_setting("SUBNETS")),
        "assignPublicIp": "DISABLED",
    }
    if groups := _ids(ecs_setting("SECURITY_GROUPS", "")):
        config["securityGroups"] = groups
    return {"awsvpcConfiguration": config}


def ecs_overrides(layer: str, ds: str) -> dict[str, Any]:
    """The container command: the same `brewlake <layer> --date <ds>` a local run uses."""
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
    container = ecs_setting("CONTAINER", ECS_CONTAINER)
    command = ["brewlake", layer, "--date", ds]
    return {"containerOverrides": [{"name": container, "command": command}]}


def ecs_run_task_args(layer: str) -> dict[str, Any]:
    """EcsRunTaskOperator arguments for `layer`: templates only, rendered when the task runs."""
    job_path(layer)  # the same check of the layer name
    return {
        "cluster": "{{ brewlake_ecs('CLUSTER') }}",
        "task_definition": "{{ brewlake_ecs('TASK_DEFINITION') }}",
        "launch_type": "FARGATE",
        "platform_version": "LATEST",
        "overrides": "{{ brewlake_ecs_overrides('" + layer + "', ds) }}",
        "network_configuration": "{{ brewlake_ecs_network() }}",
        "container_name": "{{ brewlake_ecs('CONTAINER', '" + ECS_CONTAINER + "') }}",
        # The container's CloudWatch log, copied into the task log (empty: not fetched).
        "awslogs_group": "{{ brewlake_ecs('LOG_GROUP', '') }}",
        "awslogs_stream_prefix": "{{ brewlake_ecs('LOG_STREAM_PREFIX', 'layer') }}",
        "propagate_tags": "TASK_DEFINITION",
        # The worker's own credentials (the MWAA execution role), no Airflow connection.
        "aws_conn_id": None,
    }


MACROS = {
    "brewlake_spark_jars": spark_jars,
    "brewlake_spark_conf": spark_submit_conf,
    "brewlake_spark_env": spark_submit_env,
    "brewlake_ecs": ecs_setting,
    "brewlake_ecs_network": ecs_network,
    "brewlake_ecs_overrides": ecs_overrides,
}


# ---- the retry policy


def submit_exit_code(exception: BaseException | str | None) -> int | None:
    """The job's exit code, when `exception` is SparkSubmitHook's report of a failed submit."""
    found = _SUBMIT_EXIT_CODE.search(str(exception or "").split("\n", 1)[0])
    return int(found.group(1)) if found else None


class FailFastOnConfigErrors(ExceptionRetryPolicy):
    """Fail at once, without retries, on what a retry cannot fix; anything else keeps the task's
    retries and backoff (an API outage, a Spark master that is down, a job that crashed).

    Not retried: the `brewlake_spark` connection missing, a setting malformed or the jars absent
    when the task renders its templates (MissingSparkConnection, ConfigError, SetupError), and a
    submitted job that exits with ConfigError's or SetupError's exit code (a setting only the job
    checks). The decision's reason is the error's one line, so the task log says what to fix.
    """

    def __init__(self) -> None:
        super().__init__(
            rules=[RetryRule(exception=[ConfigError, SetupError], action=RetryAction.FAIL)]
        )

    def evaluate(
        self,
        exception: BaseException,
        try_number: int,
        max_tries: int,
        context: Any = None,
    ) -> RetryDecision:
        decision = super().evaluate(exception, try_number, max_tries, context)
        if (
            decision.action is RetryAction.FAIL
            or submit_exit_code(exception) in NOT_RETRIED_EXIT_CODES
        ):
            error_class, error = job_error(exception)
            return RetryDecision.fail(
                reason=f"not retried, a retry cannot fix {error_class}: {error}"
            )
        return RetryDecision.default()


RETRY_POLICY = FailFastOnConfigErrors() if HAS_RETRY_POLICY else None


# ---- callbacks


def job_error(exception: BaseException | str | None) -> tuple[str, str]:
    """(error_class, error) worth alerting on, from the exception Airflow hands the callback.

    A failed spark-submit surfaces as "Cannot execute: <command>…" followed by the tail of the
    job's output; the job's own one-line `brewlake: error: …` in that tail says what went wrong.
    """
    if exception is None:
        return "", ""
    error_class = type(exception).__name__ if isinstance(exception, BaseException) else "Error"
    # The job's exit code says which brewlake error it was when its own line does not.
    error_class = NOT_RETRIED_EXIT_CODES.get(submit_exit_code(exception), error_class)
    text = str(exception)
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith(_JOB_ERROR_PREFIX):
            detail = line[len(_JOB_ERROR_PREFIX) :].strip()
            head, sep, rest = detail.partition(": ")
            # An unexpected exception prints as `brewlake: error: KeyError: …`: keep its class.
            if sep and head.isidentifier() and head.endswith(_CLASS_SUFFIXES):
                return head, rest.split(" (rerun with --verbose")[0]
            return error_class, detail
    return error_class, first_line(text)


def _logical_date(context: Mapping[str, Any]) -> str | None:
    if context.get("ds"):
        return str(context["ds"])
    value = context.get("logical_date")
    return value.date().isoformat() if hasattr(value, "date") else None


def task_event(kind: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """The run event for one task's outcome, built from the Airflow callback context."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    task_id = getattr(ti, "task_id", None)
    error_class, error = job_error(context.get("exception")) if kind == "failed" else ("", "")
    try:
        log_url = getattr(ti, "log_url", None)
    except Exception:  # log_url reads configuration; an alert must go out without it
        log_url = None
    return {
        "event": kind,
        "layer": task_id,
        "run_id": getattr(dag_run, "run_id", None) or context.get("run_id"),
        "logical_date": _logical_date(context),
        "error_class": error_class or None,
        "error": error or None,
        "dag_id": getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None),
        "task_id": task_id,
        "try_number": getattr(ti, "try_number", None),
        "log_url": log_url,
    }


def _alert_settings() -> Settings:
    """The settings the alert sinks use: all of them, or when one is malformed (the very error
    being reported, perhaps) the alert ones alone, so the alert still goes out."""
    from brewlake.config import load_settings

    try:
        return load_settings()
    except ConfigError:
        env = {k: v for k, v in os.environ.items() if k.startswith(_ALERT_ENV_PREFIXES)}
        return load_settings(env=env)


def _publish(kind: str, context: Mapping[str, Any]) -> None:
    """Build and publish the event; never raises (an alert must not change a task's outcome)."""
    from brewlake.log import get_logger

    log = get_logger(__name__)
    event: dict[str, Any] = {"event": kind}
    try:
        event = task_event(kind, context)
        from brewlake.ops.alerts import publish_event

        errors = publish_event(_alert_settings(), event)
        if errors:
            log.error("airflow.alert_incomplete", sinks=";".join(errors), task_id=event["task_id"])
    except Exception as exc:
        # Settings that fail to load (or a missing module) must still leave a trace in the log.
        try:
            log.error(
                f"run.{kind}",
                **{k: v for k, v in event.items() if k != "event" and v is not None},
                callback_error=f"{type(exc).__name__}: {exc}",
            )
        except Exception:
            print(f"brewlake: {kind} callback could not publish: {exc!r}", file=sys.stderr)


def on_task_failure(context: Mapping[str, Any]) -> None:
    """`on_failure_callback`: the task failed for good (retries exhausted)."""
    _publish("failed", context)


def on_pipeline_success(context: Mapping[str, Any]) -> None:
    """`on_success_callback` of the last task: the whole medallion run for the date succeeded."""
    _publish("succeeded", context)


def on_task_retry(context: Mapping[str, Any]) -> None:
    """`on_retry_callback`: logged only, so a retry that then succeeds pages nobody."""
    try:
        from brewlake.log import get_logger

        event = task_event("failed", context)
        get_logger(__name__).warning(
            "airflow.retry",
            **{k: v for k, v in event.items() if k != "event" and v is not None},
        )
    except Exception as exc:
        print(f"brewlake: retry callback could not log: {exc!r}", file=sys.stderr)
