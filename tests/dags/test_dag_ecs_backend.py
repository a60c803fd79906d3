"""DAG integrity in the AWS deployment's mode (BREWLAKE_SPARK_BACKEND=ecs): the same three tasks,
policies and assets, each an ECS Fargate task running `brewlake <layer> --date <ds>`.

The DagBag parses the real DAG file with the switch set; templates render as a worker renders them.
"""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from brewlake.airflow.hooks import RETRY_POLICY, on_pipeline_success, on_task_failure
from brewlake.errors import ConfigError
from tests.dags.test_dag_integrity import DAG_ID, DAGS, LAYERS

ECS_ENV = {
    "BREWLAKE_ECS_CLUSTER": "brewlake-jobs",
    "BREWLAKE_ECS_TASK_DEFINITION": "brewlake-layer-job",
    "BREWLAKE_ECS_SUBNETS": "subnet-0a, subnet-0b",
    "BREWLAKE_ECS_SECURITY_GROUPS": "sg-01",
    "BREWLAKE_ECS_LOG_GROUP": "/brewlake/jobs",
}


def load_dagbag(monkeypatch, backend: str):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("BREWLAKE_SPARK_BACKEND", backend)
    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def ecs_dag():
    with pytest.MonkeyPatch.context() as mp:
        bag = load_dagbag(mp, "ecs")
        assert bag.import_errors == {}
        return bag.dags[DAG_ID]


def test_the_same_three_tasks_run_as_ecs_tasks(ecs_dag):
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

    assert sorted(ecs_dag.task_ids) == sorted(LAYERS)
    assert ecs_dag.get_task("bronze").downstream_task_ids == {"silver"}
    assert ecs_dag.get_task("silver").downstream_task_ids == {"gold"}
    for layer in LAYERS:
        task = ecs_dag.get_task(layer)
        assert isinstance(task, EcsRunTaskOperator)
        assert task.launch_type == "FARGATE"
        assert task.retries == 2 and task.retry_exponential_backoff == 2.0
        assert task.retry_policy is RETRY_POLICY
        assert on_task_failure in task.on_failure_callback
        assert [a.name for a in task.outlets] == [
            f"{layer}.{'breweries' if layer != 'gold' else 'brewery_counts'}"
        ]
    assert on_pipeline_success in ecs_dag.get_task("gold").on_success_callback
    assert ecs_dag.get_task("gold").execution_timeout == dt.timedelta(minutes=20)


def test_templates_render_the_command_cluster_and_network_at_run_time(ecs_dag, monkeypatch):
    for name, value in ECS_ENV.items():
        monkeypatch.setenv(name, value)
    task = copy.deepcopy(ecs_dag.get_task("silver"))
    task.render_template_fields({"ds": "2025-03-01"})

    assert task.overrides == {
        "containerOverrides": [
            {"name": "brewlake", "command": ["brewlake", "silver", "--date", "2025-03-01"]}
        ]
    }
    assert (task.cluster, task.task_definition) == ("brewlake-jobs", "brewlake-layer-job")
    assert task.network_configuration == {
        "awsvpcConfiguration": {
            "subnets": ["subnet-0a", "subnet-0b"],
            "assignPublicIp": "DISABLED",
            "securityGroups": ["sg-01"],
        }
    }
    assert (task.awslogs_group, task.awslogs_stream_prefix) == ("/brewlake/jobs", "layer")
    assert task.container_name == "brewlake"


def test_mwaa_configuration_options_are_read_too(ecs_dag, monkeypatch):
    """On MWAA the stack sets `brewlake.ecs_cluster`, which workers see as AIRFLOW__BREWLAKE__…"""
    for name, value in ECS_ENV.items():
        monkeypatch.setenv(name.replace("BREWLAKE_", "AIRFLOW__BREWLAKE__"), value)
    task = copy.deepcopy(ecs_dag.get_task("bronze"))
    task.render_template_fields({"ds": "2025-03-02"})
    assert task.cluster == "brewlake-jobs"
    assert task.overrides["containerOverrides"][0]["command"][1:] == [
        "bronze",
        "--date",
        "2025-03-02",
    ]


def test_rendering_without_the_cluster_names_the_variable(ecs_dag, monkeypatch):
    for name, value in ECS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BREWLAKE_ECS_CLUSTER")
    task = copy.deepcopy(ecs_dag.get_task("gold"))
    with pytest.raises(
        ConfigError, match=r"^BREWLAKE_ECS_CLUSTER is not set: .*brewlake\.ecs_cluster"
    ):
        task.render_template_fields({"ds": "2025-03-01"})


def test_an_unknown_backend_is_an_import_error_that_names_the_setting(monkeypatch):
    bag = load_dagbag(monkeypatch, "emr")
    [error] = bag.import_errors.values()
    assert "BREWLAKE_SPARK_BACKEND='emr': expected one of spark-submit, ecs" in error
