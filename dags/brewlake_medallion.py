"""
# brewlake_medallion

Open Brewery DB → **bronze** (immutable raw batch) → **silver** (`silver.breweries`, MERGE) →
**gold** (`gold.brewery_counts` and friends), once a day, one `spark-submit` per layer.

- Every task is `spark-submit <layer>/job.py --date {{ ds }}`: a transaction on the run's logical
  date. Re-running a date (clear, backfill) leaves the tables as they were.
- Spark master: the `brewlake_spark` connection (`AIRFLOW_CONN_BREWLAKE_SPARK`), e.g.
  `{"conn_type": "spark", "host": "local[*]"}` or
  `{"conn_type": "spark", "host": "spark://spark-master", "port": 7077}`.
- Jars and Spark properties are computed when a task runs (`brewlake.airflow.hooks`); the lake,
  the API and credentials reach the jobs through the worker's `BREWLAKE_*` / `AWS_*` environment.
- Failures are retried with exponential backoff, except those no retry can fix: the connection
  missing, a malformed `BREWLAKE_*` setting, the jars folder missing, or a job exiting with a
  configuration error's exit code fail the task at once, its log saying what to fix. A task that
  fails for good fails the run and `on_failure_callback` publishes a `failed` event (log, SNS,
  webhook). The last task publishes `succeeded`.
- Outlets: other DAGs can schedule on `Asset("gold.brewery_counts")`.
- Deployment switch `BREWLAKE_SPARK_BACKEND` (read at parse time, environment only):
  `spark-submit` (default, as above) or `ecs`: each task runs the same `brewlake <layer> --date`
  as an ECS Fargate task of the project image (`EcsRunTaskOperator`; `BREWLAKE_ECS_*`, see
  docs/deploy-aws.md). Layer code is the same either way.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, dag

from brewlake.airflow.hooks import (
    ECS,
    MACROS,
    RETRY_BACKOFF,
    RETRY_POLICY,
    SPARK_CONN_ID,
    ecs_run_task_args,
    job_path,
    on_pipeline_success,
    on_task_failure,
    on_task_retry,
    spark_backend,
)

SPARK_BACKEND = spark_backend()

BRONZE_BATCH = Asset(name="bronze.breweries", uri="x-brewlake://bronze/breweries")
SILVER_BREWERIES = Asset(name="silver.breweries", uri="x-brewlake://silver/breweries")
GOLD_BREWERY_COUNTS = Asset(name="gold.brewery_counts", uri="x-brewlake://gold/brewery_counts")

DEFAULT_ARGS = {
    "owner": "brewlake",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
    # Doubling: 2.0 on Airflow 3.3 (a multiplier), `True` on MWAA's 3.0.6 (see hooks).
    "retry_exponential_backoff": RETRY_BACKOFF,
    "max_retry_delay": dt.timedelta(minutes=30),
    # Configuration errors fail at once; every other failure takes the retries above.
    "retry_policy": RETRY_POLICY,
    "execution_timeout": dt.timedelta(minutes=30),
    "on_failure_callback": on_task_failure,
    "on_retry_callback": on_task_retry,
}


def layer_task(layer: str, outlet: Asset, **kwargs):
    if SPARK_BACKEND == ECS:
        from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

        return EcsRunTaskOperator(
            task_id=layer, outlets=[outlet], **ecs_run_task_args(layer), **kwargs
        )
    # Imported per backend: MWAA has no Spark provider, the local setup no need of the Amazon one.
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    return SparkSubmitOperator(
        task_id=layer,
        conn_id=SPARK_CONN_ID,
        application=job_path(layer),
        application_args=["--date", "{{ ds }}"],
        # Rendered at run time by brewlake.airflow.hooks (reads settings and the jars folder).
        jars="{{ brewlake_spark_jars() }}",
        conf="{{ brewlake_spark_conf() }}",
        env_vars="{{ brewlake_spark_env() }}",
        name=f"brewlake-{layer}",
        outlets=[outlet],
        **kwargs,
    )


@dag(
    dag_id="brewlake_medallion",
    schedule="@daily",
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(hours=2),
    default_args=DEFAULT_ARGS,
    tags=["brewlake", "medallion", "spark"],
    doc_md=__doc__,
    user_defined_macros=MACROS,
    # `conf` must render to a dict, not to its string form.
    render_template_as_native_obj=True,
)
def brewlake_medallion():
    bronze = layer_task("bronze", BRONZE_BATCH)
    silver = layer_task("silver", SILVER_BREWERIES)
    gold = layer_task(
        "gold",
        GOLD_BREWERY_COUNTS,
        execution_timeout=dt.timedelta(minutes=20),
        on_success_callback=on_pipeline_success,
    )
    bronze >> silver >> gold


brewlake_medallion()
