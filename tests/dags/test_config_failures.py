"""Configuration errors fail a task at once in real Airflow; other failures keep their retries.

Each case is one `dag.test()` run (what `airflow dags test` runs) of the DAG from dags/, with the
tasks given one retry a second apart (`airflow_runs.DAG_TEST`): a task the retry policy lets
through would show a second try. Nothing here starts Spark except the case whose job exits with a
configuration error's code. The transient side (the API down: the job exits 1, is retried, then
fails) is `test_dag_run.py::test_api_down_fails_at_bronze_leaves_silver_and_gold_and_alerts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from brewlake.config import Settings
from tests.brewlake.ops.monitoring_fixtures import webhook_fixture  # noqa: F401
from tests.dags.airflow_runs import dag_test, make_env, migrate, run_of, task_seconds, task_states

pytestmark = pytest.mark.slow

FAILED_AT_ONCE = {
    "bronze": ("failed", 1),
    "silver": ("upstream_failed", 0),
    "gold": ("upstream_failed", 0),
}
# A layer job that finds a bad setting only it checks: `guarded()` exits with ConfigError's code.
CONFIG_ERROR_JOB = """
import sys
from brewlake.errors import ConfigError
from brewlake.errors import guarded

def run():
    raise ConfigError("BREWLAKE_EXAMPLE=7: out of range; set it to 1..5")

sys.exit(guarded(run, verbose=False))
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """One metadata DB for the module's runs, one logical date each."""
    return tmp_path_factory.mktemp("airflow-config-failures")


@pytest.fixture(scope="module")
def lake(base_settings: Settings, tmp_path_factory) -> Settings:
    return base_settings.replace(lake_root=str(tmp_path_factory.mktemp("config-lake") / "lake"))


@pytest.fixture(scope="module")
def migrated(home: Path, lake: Settings) -> Path:
    migrate(make_env(home, lake))
    return home


@dataclass
class Failure:
    output: str
    run_id: str
    states: dict
    seconds: float
    alert: dict


def run_failing(
    home: Path, lake: Settings, webhook, date: str, drop=(), applications=None, **env_extra
) -> Failure:
    """A DAG run for `date` that fails; the webhook's single alert comes with it."""
    env = make_env(home, lake, BREWLAKE_ALERT_WEBHOOK_URL=webhook.url, **env_extra)
    for name in drop:
        env.pop(name)
    out = dag_test(env, date, timeout=600, applications=applications)
    assert "DAG_RUN_STATE failed" in out.stdout, out.stdout[-6000:]
    run_id, _state = run_of(home, date)
    [body] = webhook.wait_for(1, timeout=10)
    seconds = task_seconds(home, run_id, "bronze")
    print(f"{date}: bronze failed after {seconds:.1f} s")
    return Failure(out.stdout, run_id, task_states(home, run_id), seconds, body["event_data"])


def assert_failed_at_once(failure: Failure, error_class: str, fix: str) -> None:
    """One try, no retry callback, the fix in the policy's log line and in the alert."""
    assert failure.states == FAILED_AT_ONCE, failure.output[-6000:]
    assert "airflow.retry" not in failure.output  # on_retry_callback never ran
    [decision] = [line for line in failure.output.splitlines() if "Retry policy decision" in line]
    assert "action=fail" in decision and error_class in decision and fix in decision
    alert = failure.alert
    assert (alert["event"], alert["layer"], alert["try_number"]) == ("failed", "bronze", 1)
    assert alert["error_class"] == error_class
    assert fix in alert["error"] and "\n" not in alert["error"]
    assert failure.seconds < 30


def test_missing_spark_connection_fails_at_once_without_retry(migrated, lake, webhook):
    failure = run_failing(
        migrated, lake, webhook, "2025-04-01", drop=["AIRFLOW_CONN_BREWLAKE_SPARK"]
    )
    assert_failed_at_once(failure, "MissingSparkConnection", "set AIRFLOW_CONN_BREWLAKE_SPARK")
    assert "Spark-Submit cmd:" not in failure.output  # nothing was submitted (no yarn fallback)
    assert "'brewlake_spark' is not defined" in failure.alert["error"]


def test_missing_jars_folder_fails_at_once(migrated, lake, webhook, tmp_path):
    empty = tmp_path / "no-jars"
    empty.mkdir()
    failure = run_failing(migrated, lake, webhook, "2025-04-02", BREWLAKE_JARS_DIR=str(empty))
    assert_failed_at_once(failure, "SetupError", "BREWLAKE_JARS_DIR")
    assert "make setup" in failure.alert["error"] and str(empty) in failure.alert["error"]


def test_malformed_setting_fails_at_once_and_the_alert_still_goes_out(migrated, lake, webhook):
    # Every setting loads through load_settings(), which refuses this one: the alert must not.
    failure = run_failing(migrated, lake, webhook, "2025-04-03", BREWLAKE_API_PAGE_SIZE="lots")
    assert_failed_at_once(failure, "ConfigError", "BREWLAKE_API_PAGE_SIZE='lots'")
    assert failure.alert["error"] == "environment: BREWLAKE_API_PAGE_SIZE='lots' is not a valid int"


def test_job_exiting_with_a_config_error_is_not_retried(migrated, lake, webhook, tmp_path):
    job = tmp_path / "config_error_job.py"
    job.write_text(CONFIG_ERROR_JOB)
    failure = run_failing(migrated, lake, webhook, "2025-04-04", applications={"bronze": str(job)})
    submits = [line for line in failure.output.splitlines() if "Spark-Submit cmd:" in line]
    assert len(submits) == 1  # submitted once, exited 2, not submitted again
    assert "Error code is: 2." in failure.output
    assert_failed_at_once(
        failure, "ConfigError", "BREWLAKE_EXAMPLE=7: out of range; set it to 1..5"
    )
    assert "spark-submit" not in failure.alert["error"]  # the job's line, not the command
