"""Callbacks and render-time macros of the DAG, against a real webhook receiver on 127.0.0.1.

The callback context is Airflow's (a plain mapping with the task instance and the dag run); the
full path — a real task failing inside Airflow — is exercised by test_dag_run.py.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from brewlake.airflow_hooks import (
    job_error,
    job_path,
    on_pipeline_success,
    on_task_failure,
    on_task_retry,
    task_event,
)
from brewlake.config import PROJECT_ROOT
from tests.brewlake.monitoring_fixtures import webhook_fixture  # noqa: F401

# What SparkSubmitHook raises when the job exits non-zero: the command, then the output's tail,
# whose last `brewlake: error:` line is the job's own message (brewlake.jobs.guarded).
SUBMIT_FAILURE = (
    "Cannot execute: spark-submit --master local[*] --name brewlake-bronze "
    "/work/main/bronze/job.py --date 2025-03-01. Error code is: 1.\n"
    "Last spark-submit output:\n"
    "10:00:01 error run.failed layer=bronze\n"
    "brewlake: error: meta: GET http://127.0.0.1:9/v1/breweries/meta -> no response after "
    "1 attempt(s): Connection refused\n"
)


@pytest.fixture
def brewlake_log(caplog):
    """Records of the `brewlake` loggers, even once brewlake.log.configure() stopped propagation."""
    logger = logging.getLogger("brewlake")
    level = logger.level
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.INFO)
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.setLevel(level)


def failure_context(exception, task_id="bronze", try_number=3):
    ti = SimpleNamespace(
        task_id=task_id,
        dag_id="brewlake_medallion",
        try_number=try_number,
        log_url=f"http://localhost:8080/dags/brewlake_medallion/runs/r1/tasks/{task_id}",
    )
    return {
        "ti": ti,
        "dag_run": SimpleNamespace(run_id="scheduled__2025-03-01T00:00:00+00:00"),
        "ds": "2025-03-01",
        "exception": exception,
    }


def test_job_error_is_the_jobs_own_line_not_the_command():
    error_class, error = job_error(AirflowException(SUBMIT_FAILURE))
    assert error_class == "AirflowException"
    assert error.startswith("meta: GET http://127.0.0.1:9/v1/breweries/meta -> no response")
    assert "spark-submit" not in error


def test_job_error_keeps_an_unexpected_exceptions_class():
    text = "Cannot execute: x\nbrewlake: error: KeyError: 'id' (rerun with --verbose for details)"
    assert job_error(AirflowException(text)) == ("KeyError", "'id'")
    assert job_error(ValueError("plain\nsecond")) == ("ValueError", "plain")
    assert job_error(None) == ("", "")


def test_task_event_carries_the_airflow_context():
    event = task_event("failed", failure_context(AirflowException(SUBMIT_FAILURE)))
    assert event == {
        "event": "failed",
        "layer": "bronze",
        "run_id": "scheduled__2025-03-01T00:00:00+00:00",
        "logical_date": "2025-03-01",
        "error_class": "AirflowException",
        "error": event["error"],
        "dag_id": "brewlake_medallion",
        "task_id": "bronze",
        "try_number": 3,
        "log_url": "http://localhost:8080/dags/brewlake_medallion/runs/r1/tasks/bronze",
    }
    assert "Connection refused" in event["error"]


def test_failure_callback_reaches_the_webhook(webhook, monkeypatch):
    monkeypatch.setenv("BREWLAKE_ALERT_WEBHOOK_URL", webhook.url)
    on_task_failure(failure_context(AirflowException(SUBMIT_FAILURE), task_id="silver"))
    [body] = webhook.wait_for(1)
    sent = body["event_data"]
    assert sent["event"] == "failed"
    assert (sent["layer"], sent["task_id"], sent["try_number"]) == ("silver", "silver", 3)
    assert sent["logical_date"] == "2025-03-01"
    assert sent["error"].startswith("meta: GET")
    assert "silver failed for 2025-03-01" in body["text"]


def test_success_and_retry_callbacks_page_nobody(webhook, monkeypatch, brewlake_log):
    monkeypatch.setenv("BREWLAKE_ALERT_WEBHOOK_URL", webhook.url)
    context = failure_context(None, task_id="gold", try_number=1)
    on_pipeline_success(context)
    on_task_retry({**context, "exception": AirflowException(SUBMIT_FAILURE)})
    assert webhook.wait_for(1, timeout=1.0) == []
    events = {r.getMessage() for r in brewlake_log.records}
    assert "run.succeeded" in events and "airflow.retry" in events


def test_callback_never_raises_even_when_settings_are_broken(monkeypatch, brewlake_log):
    monkeypatch.setenv("BREWLAKE_LAKE_ROOT", "ftp://nowhere/lake")  # ConfigError on load
    on_task_failure(failure_context(AirflowException(SUBMIT_FAILURE)))
    record = next(r for r in brewlake_log.records if r.getMessage() == "run.failed")
    assert "ConfigError" in record.callback_error
    assert record.task_id == "bronze"


def test_job_path_points_at_each_layers_job_and_refuses_others():
    assert job_path("gold") == str(PROJECT_ROOT / "gold" / "job.py")
    with pytest.raises(ValueError, match="unknown layer"):
        job_path("platinum")
