"""The CDK app: `cdk synth` / `cdk deploy` run this (cdk.json), `make aws-synth` too.

python app.py                       # templates into cdk.out/ (no AWS account needed)
cdk deploy --all -c alert_email=ops@example.com -c region=eu-west-1
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import aws_cdk as cdk

sys.path.insert(0, str(Path(__file__).resolve().parent))

from brewlake_aws.compute import ComputeStack
from brewlake_aws.config import DeployConfig
from brewlake_aws.lambda_package import DEFAULT_OUT, build
from brewlake_aws.monitoring import MonitoringStack
from brewlake_aws.network import NetworkStack
from brewlake_aws.orchestration import OrchestrationStack
from brewlake_aws.storage import StorageStack


def build_app(app: cdk.App | None = None, lambda_code: Path | None = None) -> cdk.App:
    """Every stack, wired; `lambda_code` is the archiver's folder (built when not given)."""
    app = app or cdk.App()
    # Server access logs are granted by a bucket policy, not the legacy LogDeliveryWrite ACL.
    app.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
    # Cross-stack references are exports: a consumer keeps its producer's value from vanishing.
    app.node.set_context("@aws-cdk/core:defaultCrossStackReferences", "strong")
    config = DeployConfig.from_context(app)
    code = lambda_code or (DEFAULT_OUT if (DEFAULT_OUT / "brewlake").is_dir() else build())
    env = config.env
    storage = StorageStack(app, config.name("storage"), config=config, env=env)
    network = NetworkStack(app, config.name("network"), config=config, env=env)
    monitoring = MonitoringStack(
        app,
        config.name("monitoring"),
        config=config,
        lake=storage.lake,
        events_bucket=storage.events,
        access_logs=storage.access_logs,
        lambda_code=code,
        env=env,
    )
    compute = ComputeStack(
        app,
        config.name("compute"),
        config=config,
        vpc=network.vpc,
        lake=storage.lake,
        topic=monitoring.topic,
        env=env,
    )
    OrchestrationStack(
        app,
        config.name("orchestration"),
        config=config,
        vpc=network.vpc,
        security_group=network.mwaa_sg,
        source=storage.airflow,
        lake=storage.lake,
        topic=monitoring.topic,
        cluster=compute.cluster,
        task_definition=compute.task_definition,
        spark_security_group=network.spark_sg,
        spark_log_group=compute.log_group,
        env=env,
    )
    for stack in app.node.children:
        if isinstance(stack, cdk.Stack):
            cdk.Tags.of(stack).add("project", "brewlake")
    return app


if __name__ == "__main__":
    outdir = os.environ.get("CDK_OUTDIR") or str(Path(__file__).resolve().parent / "cdk.out")
    build_app(cdk.App(outdir=outdir)).synth()
