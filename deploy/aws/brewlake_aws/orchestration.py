"""MWAA: the managed Airflow that runs dags/brewlake_medallion.py with BREWLAKE_SPARK_BACKEND=ecs.

The source bucket holds `dags/` (the DAG file), `requirements.txt` (deploy/aws/mwaa/) and
`plugins.zip` (brewlake's own package, on the workers' sys.path); `make aws-deploy` uploads them.
The execution role may do what MWAA itself needs (its logs, metrics, Celery queues, the source
bucket) and what the DAG does: start, watch and stop the Spark task definition's tasks, pass its
two roles, read its log stream, and publish run events to the alert topic.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_mwaa as mwaa
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from brewlake_aws.config import (
    DAGS_PREFIX,
    LAKE_PREFIX,
    PLUGINS_KEY,
    REQUIREMENTS_KEY,
    SPARK_CONTAINER,
    SPARK_LOG_STREAM_PREFIX,
    SPARK_TASK_FAMILY,
    STARTUP_KEY,
    DeployConfig,
)


class OrchestrationStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: DeployConfig,
        vpc: ec2.IVpc,
        security_group: ec2.ISecurityGroup,
        source: s3.IBucket,
        lake: s3.IBucket,
        topic: sns.ITopic,
        cluster: ecs.ICluster,
        task_definition: ecs.TaskDefinition,
        spark_security_group: ec2.ISecurityGroup,
        spark_log_group: logs.ILogGroup,
        **kwargs,
    ) -> None:
        super().__init__(scope, cid, **kwargs)
        env_name = config.name("airflow")
        env_arn = self.format_arn(service="airflow", resource="environment", resource_name=env_name)
        role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("airflow.amazonaws.com"),
                iam.ServicePrincipal("airflow-env.amazonaws.com"),
            ),
            description="brewlake MWAA execution role",
        )
        statements = [
            iam.PolicyStatement(actions=["airflow:PublishMetrics"], resources=[env_arn]),
            iam.PolicyStatement(
                actions=["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
                resources=[source.bucket_arn, source.arn_for_objects("*")],
            ),
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogStream",
                    "logs:CreateLogGroup",
                    "logs:PutLogEvents",
                    "logs:GetLogEvents",
                    "logs:GetLogRecord",
                    "logs:GetLogGroupFields",
                    "logs:GetQueryResults",
                ],
                resources=[
                    self.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"airflow-{env_name}-*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
            # MWAA's Celery queues live in an AWS-owned account: the documented resource pattern.
            iam.PolicyStatement(
                actions=[
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ReceiveMessage",
                    "sqs:SendMessage",
                ],
                resources=[f"arn:{self.partition}:sqs:{self.region}:*:airflow-celery-*"],
            ),
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
                not_resources=[f"arn:{self.partition}:kms:*:{self.account}:key/*"],
                conditions={"StringLike": {"kms:ViaService": [f"sqs.{self.region}.amazonaws.com"]}},
            ),
            # The DAG: run the Spark task, follow it, stop it when Airflow times it out.
            # Any revision of the family: a new image makes a new revision, and an ARN with a
            # revision imported from the compute stack would block that stack's update.
            iam.PolicyStatement(
                actions=["ecs:RunTask"],
                resources=[
                    self.format_arn(
                        service="ecs",
                        resource="task-definition",
                        resource_name=f"{config.name(SPARK_TASK_FAMILY)}:*",
                    )
                ],
                conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
            ),
            iam.PolicyStatement(
                actions=["ecs:DescribeTasks", "ecs:StopTask"],
                resources=[
                    self.format_arn(
                        service="ecs", resource="task", resource_name=f"{cluster.cluster_name}/*"
                    )
                ],
            ),
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[
                    task_definition.task_role.role_arn,
                    task_definition.obtain_execution_role().role_arn,
                ],
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            ),
            iam.PolicyStatement(
                actions=["logs:GetLogEvents", "logs:FilterLogEvents"],
                resources=[spark_log_group.log_group_arn, f"{spark_log_group.log_group_arn}:*"],
            ),
            # brewlake status / the DAG's sensors read the lake's tables, never write them.
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[lake.arn_for_objects(f"{LAKE_PREFIX}/*")]
            ),
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[lake.bucket_arn]),
        ]
        for statement in statements:
            role.add_to_policy(statement)
        topic.grant_publish(role)
        # What MWAA's documented execution role reads account-wide: these APIs take no resource.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:DescribeLogGroups", "s3:GetAccountPublicAccessBlock"],
                resources=["*"],
            )
        )
        # CloudWatch metrics accept no resource but "*": scoped to MWAA's namespace instead.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "AmazonMWAA"}},
            )
        )
        subnets = vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        # What the DAG needs to start the Spark tasks (BREWLAKE_SPARK_BACKEND=ecs).
        # MWAA hands `brewlake.<name>` options to every component as AIRFLOW__BREWLAKE__<NAME>;
        # mwaa/startup.sh exports each as BREWLAKE_<NAME>, the variables brewlake reads.
        self.brewlake_options = {
            "spark_backend": "ecs",
            "ecs_cluster": cluster.cluster_name,
            "ecs_task_definition": config.name(SPARK_TASK_FAMILY),
            "ecs_container": SPARK_CONTAINER,
            "ecs_subnets": ",".join(subnets.subnet_ids),
            "ecs_security_groups": spark_security_group.security_group_id,
            "ecs_log_group": spark_log_group.log_group_name,
            "ecs_log_stream_prefix": SPARK_LOG_STREAM_PREFIX,
            "alert_sns_topic_arn": topic.topic_arn,
            "lake_root": f"s3a://{lake.bucket_name}/{LAKE_PREFIX}",
            "log_format": "json",
        }
        logging = mwaa.CfnEnvironment.ModuleLoggingConfigurationProperty(
            enabled=True, log_level="INFO"
        )
        self.airflow = mwaa.CfnEnvironment(
            self,
            "Airflow",
            name=env_name,
            airflow_version=config.airflow_version,
            environment_class=config.mwaa_environment_class,
            min_workers=1,
            max_workers=2,
            execution_role_arn=role.role_arn,
            source_bucket_arn=source.bucket_arn,
            dag_s3_path=DAGS_PREFIX,
            requirements_s3_path=REQUIREMENTS_KEY,
            plugins_s3_path=PLUGINS_KEY,
            startup_script_s3_path=STARTUP_KEY,
            webserver_access_mode="PRIVATE_ONLY",
            network_configuration=mwaa.CfnEnvironment.NetworkConfigurationProperty(
                security_group_ids=[security_group.security_group_id],
                subnet_ids=subnets.subnet_ids[:2],
            ),
            logging_configuration=mwaa.CfnEnvironment.LoggingConfigurationProperty(
                dag_processing_logs=logging,
                scheduler_logs=logging,
                task_logs=logging,
                webserver_logs=mwaa.CfnEnvironment.ModuleLoggingConfigurationProperty(
                    enabled=True, log_level="WARNING"
                ),
                worker_logs=logging,
            ),
            airflow_configuration_options={
                "core.default_timezone": "utc",
                **{f"brewlake.{k}": v for k, v in self.brewlake_options.items()},
            },
            tags={"brewlake:role": "orchestration"},
        )
        cdk.CfnOutput(self, "EnvironmentName", value=env_name)
        cdk.CfnOutput(self, "ExecutionRoleArn", value=role.role_arn)
