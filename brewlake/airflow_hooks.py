"""Airflow glue kept out of the DAG file: job paths, render-time macros and task callbacks.

`dags/brewlake_medallion.py` imports this module while the DAG is parsed, so at import time it
touches only the standard library and `brewlake.config`'s constants: no settings are loaded, no
file is read, pyspark and the layer packages are never imported. Everything that reads the
environment, `conf/local.toml` or the jars folder runs inside a function that Airflow calls when a
task runs (template macros, callbacks).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from brewlake.config import PROJECT_ROOT
from brewlake.errors import ConfigError

LAYERS = ("bronze", "silver", "gold")
# The Airflow connection every layer submits through; AIRFLOW_CONN_BREWLAKE_SPARK provides it.
SPARK_CONN_ID = "brewlake_spark"
LOCAL_SPARK_CONN = '{"conn_type": "spark", "host": "local[*]"}'

# Properties spark-submit must not receive from us: the master comes from the connection, jars
# go through --jars, and credentials reach the job through its environment (a --conf value shows
# up in `ps`, in the task log and in the rendered-template view).
_NOT_ON_COMMAND_LINE = ("spark.master", "spark.jars")
_SECRET_MARKERS = ("secret", "access.key", "session.token", "password", "token")
# What `guarded()` in brewlake.jobs prints when a job fails: the line worth alerting on.
_JOB_ERROR_PREFIX = "brewlake: error:"
_CLASS_SUFFIXES = ("Error", "Exception", "Breach", "Exit", "Interrupt")


class MissingSparkConnection(ConfigError):
    """The `brewlake_spark` Airflow connection is not defined."""


def job_path(layer: str) -> str:
    """The `job.py` spark-submit runs for `layer` (inside the installed project)."""
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}")
    return str(PROJECT_ROOT / layer / "job.py")


# ---- render-time macros (called when a task's templates are rendered, never at parse time)


def spark_jars() -> str:
    """`--jars` value: the Delta and s3a jars, which must be on the JVM's classpath at launch."""
    from brewlake.config import load_settings
    from brewlake.spark import jar_paths

    return ",".join(jar_paths(load_settings()))


def spark_submit_conf() -> dict[str, str]:
    """`--conf` properties for spark-submit: brewlake's Spark properties, minus master/jars/secrets.

    Launch-time properties (driver memory, the Python the driver and executors run) only take
    effect when given to spark-submit; the rest repeat what the job's session builder sets anyway,
    so the submitted application is self-describing in the task log.
    """
    from brewlake.config import load_settings
    from brewlake.spark import spark_conf

    conf = {
        key: value
        for key, value in spark_conf(load_settings()).items()
        if key not in _NOT_ON_COMMAND_LINE
        and not any(marker in key.lower() for marker in _SECRET_MARKERS)
    }
    # The driver runs where the task runs: the worker's interpreter has brewlake installed.
    conf["spark.pyspark.driver.python"] = sys.executable
    conf["spark.pyspark.python"] = os.environ.get("PYSPARK_PYTHON") or sys.executable
    return conf


def spark_submit_env() -> dict[str, str]:
    """Extra environment for the job: the master the `brewlake_spark` connection submits to.

    The job's session builder applies `BREWLAKE_SPARK_MASTER`, which would otherwise override
    spark-submit's `--master`; handing it the connection's master makes the connection decide.
    """
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(SPARK_CONN_ID)
    except Exception as exc:
        # Without it the provider silently falls back to `--master yarn`.
        raise MissingSparkConnection(
            f"Airflow connection {SPARK_CONN_ID!r} is not defined ({type(exc).__name__}): set "
            f"AIRFLOW_CONN_BREWLAKE_SPARK, e.g. '{LOCAL_SPARK_CONN}'"
        ) from None
    # The hook's own resolution (host, port, conn_type), so both agree on every connection form.
    master = SparkSubmitHook(conn_id=SPARK_CONN_ID)._connection["master"]
    return {"BREWLAKE_SPARK_MASTER": master}


MACROS = {
    "brewlake_spark_jars": spark_jars,
    "brewlake_spark_conf": spark_submit_conf,
    "brewlake_spark_env": spark_submit_env,
}


# ---- callbacks


def job_error(exception: BaseException | str | None) -> tuple[str, str]:
    """(error_class, error) worth alerting on, from the exception Airflow hands the callback.

    A failed spark-submit surfaces as "Cannot execute: <command>…" followed by the tail of the
    job's output; the job's own one-line `brewlake: error: …` in that tail says what went wrong.
    """
    if exception is None:
        return "", ""
    error_class = type(exception).__name__ if isinstance(exception, BaseException) else "Error"
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
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return error_class, first


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


def _publish(kind: str, context: Mapping[str, Any]) -> None:
    """Build and publish the event; never raises (an alert must not change a task's outcome)."""
    from brewlake.log import get_logger

    log = get_logger(__name__)
    event: dict[str, Any] = {"event": kind}
    try:
        event = task_event(kind, context)
        from brewlake.alerts import publish_event
        from brewlake.config import load_settings

        errors = publish_event(load_settings(), event)
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
