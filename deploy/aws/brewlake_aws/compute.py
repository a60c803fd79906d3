"""Where the Spark jobs run: ECS on Fargate, the project's own image, one task per layer run.

Why not EMR: the jobs need Spark 4.2 + Delta 4.4. The newest AWS Spark runtime, emr-spark-8.0.0
(EMR Serverless, on EC2 and on EKS), ships Spark 4.0.2 and Delta 4.0.0; EMR 7.x ships Spark 3.5.
An EMR Serverless custom image is built FROM the EMR base image and may add packages, not replace
the EMR Spark runtime, so no EMR flavour runs Spark 4.2 as-is. The project's Dockerfile already
builds an image with Spark 4.2, the Delta/s3a jars and brewlake; Fargate runs it with
`local[*]` Spark on one task (4 vCPU, 16 GiB: the Open Brewery DB is ~10 k rows, far below what
needs a cluster), billed per second, nothing idle. The DAG starts it with the Amazon provider's
EcsRunTaskOperator (BREWLAKE_SPARK_BACKEND=ecs) and the task's exit code decides the Airflow task.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from brewlake_aws.checks import LOG_GROUP_KMS, suppress
from brewlake_aws.config import (
    LAKE_PREFIX,
    SPARK_CLUSTER,
    SPARK_CONTAINER,
    SPARK_LOG_STREAM_PREFIX,
    SPARK_TASK_FAMILY,
    DeployConfig,
)


class ComputeStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: DeployConfig,
        vpc: ec2.IVpc,
        lake: s3.IBucket,
        topic: sns.ITopic,
        **kwargs,
    ) -> None:
        super().__init__(scope, cid, **kwargs)
        self.repository = ecr.Repository(
            self,
            "Image",
            repository_name=config.name("spark"),
            image_scan_on_push=True,
            # Each deploy pushes a new tag (the git commit): a tag always names the same image.
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.AES_256,
            lifecycle_rules=[ecr.LifecycleRule(max_image_count=10)],
            removal_policy=cdk.RemovalPolicy.DESTROY,
            empty_on_delete=True,
        )
        suppress(
            self.repository,
            (
                "CKV_AWS_136",
                "AES-256 (ECR-managed keys): the image holds code and jars, no secrets",
            ),
        )
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            cluster_name=config.name(SPARK_CLUSTER),
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        self.log_group = logs.LogGroup(
            self,
            "SparkLogs",
            log_group_name=f"/{config.prefix}/spark",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        suppress(self.log_group, LOG_GROUP_KMS)
        # What the job itself may do: read and write the lake below its prefix, publish run events.
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="brewlake Spark job: the lake prefix and the alert topic",
        )
        self.task_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[lake.arn_for_objects(f"{LAKE_PREFIX}/*")],
            )
        )
        self.task_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[lake.bucket_arn],
            )
        )
        topic.grant_publish(self.task_role)
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "SparkJob",
            family=config.name(SPARK_TASK_FAMILY),
            cpu=config.spark_cpu,
            memory_limit_mib=config.spark_memory_mib,
            task_role=self.task_role,
            ephemeral_storage_gib=40,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        self.container = self.task_definition.add_container(
            SPARK_CONTAINER,
            container_name=SPARK_CONTAINER,
            image=ecs.ContainerImage.from_ecr_repository(self.repository, config.image_tag),
            # The DAG overrides the command per task: brewlake <layer> --date <ds>.
            command=["brewlake", "--help"],
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=SPARK_LOG_STREAM_PREFIX, log_group=self.log_group
            ),
            readonly_root_filesystem=False,
            environment={
                "BREWLAKE_LAKE_ROOT": f"s3a://{lake.bucket_name}/{LAKE_PREFIX}",
                "BREWLAKE_ALERT_SNS_TOPIC_ARN": topic.topic_arn,
                "BREWLAKE_SPARK_MASTER": "local[*]",
                "BREWLAKE_SPARK_UI_ENABLED": "false",
                "BREWLAKE_SPARK_DRIVER_MEMORY": f"{max(1, config.spark_memory_mib // 1024 - 4)}g",
                "BREWLAKE_LOG_FORMAT": "json",
                "AWS_REGION": self.region,
            },
        )
        cdk.CfnOutput(self, "ClusterName", value=self.cluster.cluster_name)
        cdk.CfnOutput(self, "TaskDefinitionArn", value=self.task_definition.task_definition_arn)
        cdk.CfnOutput(self, "RepositoryUri", value=self.repository.repository_uri)
