"""The deployment's parameters: CDK context (`cdk.json`, `-c key=value`) over these defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields

import aws_cdk as cdk


@dataclass(frozen=True)
class DeployConfig:
    prefix: str = "brewlake"  # names every resource; lowercase, a-z0-9-
    region: str = "us-east-1"
    account: str = ""  # empty: the account of the credentials `cdk deploy` runs with
    # MWAA: the newest Airflow that AWS::MWAA::Environment accepts (see docs/deploy-aws.md).
    airflow_version: str = "3.0.6"
    mwaa_environment_class: str = "mw1.micro"
    # The project's image (Dockerfile) in the compute stack's ECR repository.
    image_tag: str = "0.1.0"  # make aws-deploy pushes and passes the git commit
    spark_cpu: int = 4096  # Fargate units: 4 vCPU
    spark_memory_mib: int = 16384
    alert_email: str = ""  # empty: no e-mail subscription (the events still reach the archive)
    bronze_retention_days: int = 400  # raw batches older than this expire
    noncurrent_retention_days: int = 30
    log_retention_days: int = 90

    @classmethod
    def from_context(cls, app: cdk.App) -> DeployConfig:
        values = {}
        for f in fields(cls):
            raw = app.node.try_get_context(f.name)
            if raw is None or raw == "":
                continue
            values[f.name] = type(f.default)(raw) if not isinstance(f.default, str) else str(raw)
        return cls(**values)

    def name(self, *parts: str) -> str:
        return "-".join((self.prefix, *parts))

    @property
    def env(self) -> cdk.Environment:
        return cdk.Environment(account=self.account or None, region=self.region)


# Where things live inside the buckets: one definition, used by the stacks and the IAM policies.
LAKE_PREFIX = "lake"  # BREWLAKE_LAKE_ROOT=s3a://<lake bucket>/lake
BRONZE_PREFIX = f"{LAKE_PREFIX}/bronze/"
EVENTS_PREFIX = "events"  # BREWLAKE_EVENTS_PREFIX=s3://<events bucket>/events
DAGS_PREFIX = "dags"
REQUIREMENTS_KEY = "requirements.txt"
PLUGINS_KEY = "plugins.zip"
STARTUP_KEY = "startup.sh"
SPARK_CLUSTER = "spark"
SPARK_TASK_FAMILY = "spark-job"
SPARK_CONTAINER = "brewlake"
SPARK_LOG_STREAM_PREFIX = "layer"  # awslogs stream: layer/brewlake/<task id>
