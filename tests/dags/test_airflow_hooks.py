"""Callbacks and render-time macros of the DAG, against a real webhook receiver on 127.0.0.1.

The callback context is Airflow's (a plain mapping with the task instance and the dag run); the
full path — a real task failing inside Airflow — is exercised by test_dag_run.py.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from airflow.providers.common.compat.sdk import AirflowException
from airflow.sdk import RetryAction

from brewlake.airflow.hooks import (
    RETRY_POLICY,
    MissingSparkConnection,
    job_error,
    job_path,
    on_pipeline_success,
    on_task_failure,
    on_task_retry,
    submit_exit_code,
    task_event,
)
from brewlake.config import PROJECT_ROOT
from brewlake.errors import ConfigError, SetupError, SourceError
from tests.brewlake.ops.monitoring_fixtures import webhook_fixture  # noqa: F401

# What SparkSubmitHook raises when the job exits non-zero: the command, then the output's tail,
# whose last `brewlake: error:` line is the job's own message (brewlake.runtime.job.guarded).
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
    # Broken where the alert itself looks: no sink can be reached, the log still has it.
    monkeypatch.setenv("BREWLAKE_ALERT_WEBHOOK_URL", "ftp://nowhere/hook")  # ConfigError on load
    on_task_failure(failure_context(AirflowException(SUBMIT_FAILURE)))
    record = next(r for r in brewlake_log.records if r.getMessage() == "run.failed")
    assert "ConfigError" in record.callback_error
    assert record.task_id == "bronze"


def submit_failure(code: int, line: str) -> AirflowException:
    """SparkSubmitHook's report of a job that printed `line` and exited `code`."""
    head = SUBMIT_FAILURE.split(" Error code is: ")[0]
    return AirflowException(
        f"{head} Error code is: {code}.\nLast spark-submit output:\nbrewlake: error: {line}\n"
    )


def decide(exception: BaseException):
    return RETRY_POLICY.evaluate(exception, try_number=1, max_tries=3)


@pytest.mark.parametrize(
    "exception",
    [
        MissingSparkConnection("Airflow connection 'brewlake_spark' is not defined: set X"),
        ConfigError("environment: BREWLAKE_API_PAGE_SIZE='lots' is not a valid int"),
        SetupError("Spark jars missing in /nowhere (delta-spark): run `make setup`"),
        submit_failure(2, "environment: BREWLAKE_LOG_FORMAT='xml': use 'text' or 'json'"),
        submit_failure(3, "Delta Lake classes are not on Spark's classpath: run `make setup`"),
    ],
    ids=["no-connection", "bad-setting", "no-jars", "job-exit-2", "job-exit-3"],
)
def test_retry_policy_fails_configuration_errors_at_once_with_the_fix(exception):
    decision = decide(exception)
    assert decision.action is RetryAction.FAIL
    error_class, error = job_error(exception)
    assert decision.reason == f"not retried, a retry cannot fix {error_class}: {error}"
    assert error_class in ("MissingSparkConnection", "ConfigError", "SetupError")
    assert "spark-submit" not in decision.reason and "\n" not in decision.reason


@pytest.mark.parametrize(
    "exception",
    [
        AirflowException(SUBMIT_FAILURE),  # the API down: the job exits 1
        submit_failure(143, "interrupted"),  # the job was terminated
        SourceError("meta: GET http://127.0.0.1:9/v1/breweries/meta -> no response"),
        RuntimeError("Connection refused"),  # e.g. the API server unreachable mid-task
        # A job's output that merely mentions an exit code does not count: only the hook's.
        AirflowException(
            "Cannot execute: x. Error code is: 1.\nbrewlake: error: Error code is: 2."
        ),
    ],
    ids=["job-exit-1", "job-exit-143", "source", "runtime", "code-in-output"],
)
def test_retry_policy_keeps_retries_for_everything_else(exception):
    assert decide(exception).action is RetryAction.DEFAULT


def test_exit_code_is_read_from_the_hooks_message_only():
    assert submit_exit_code(submit_failure(2, "x")) == 2
    assert submit_exit_code(AirflowException(SUBMIT_FAILURE)) == 1
    assert submit_exit_code(ValueError("Error code is: 2.")) is None
    assert submit_exit_code(None) is None


def test_job_error_names_the_error_class_a_job_exit_code_stands_for():
    exception = submit_failure(2, "environment: BREWLAKE_LOG_FORMAT='xml': use 'text' or 'json'")
    assert job_error(exception) == (
        "ConfigError",
        "environment: BREWLAKE_LOG_FORMAT='xml': use 'text' or 'json'",
    )
    assert job_error(submit_failure(3, "Delta Lake classes missing"))[0] == "SetupError"


def test_failure_alert_goes_out_even_when_a_setting_is_malformed(webhook, monkeypatch):
    """The malformed setting is often the very failure being reported."""
    monkeypatch.setenv("BREWLAKE_ALERT_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("BREWLAKE_API_PAGE_SIZE", "lots")
    error = ConfigError("environment: BREWLAKE_API_PAGE_SIZE='lots' is not a valid int")
    on_task_failure(failure_context(error, try_number=1))
    [body] = webhook.wait_for(1)
    sent = body["event_data"]
    assert (sent["error_class"], sent["error"], sent["try_number"]) == (
        "ConfigError",
        str(error),
        1,
    )


def test_job_path_points_at_each_layers_job_and_refuses_others():
    assert job_path("gold") == str(PROJECT_ROOT / "gold" / "job.py")
    with pytest.raises(ValueError, match="unknown layer"):
        job_path("platinum")
