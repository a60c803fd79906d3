"""The seed's monitoring design: CloudTrail -> EventBridge -> SNS -> SQS (+DLQ) -> Lambda -> bucket.

- CloudTrail: one trail with the management events (write) of the account and the S3 data events
  (write) of the lake bucket; CloudTrail hands both to EventBridge's default bus.
- EventBridge rules, each targeting the alert topic, each event forwarded as it is:
  the lake's writes and deletes and its bucket-configuration changes (CloudTrail), API calls that
  change the MWAA environment or the Spark cluster (CloudTrail), the MWAA environment's status
  changes (MWAA Environment Status Change), and every Spark task that stopped (ECS Task State
  Change). Airflow's task outcomes reach the same topic from the DAG's callbacks
  as brewlake run events (`BREWLAKE_ALERT_SNS_TOPIC_ARN`).
- SNS topic (KMS-encrypted) -> SQS queue (dead-letter queue after 5 receives) -> the archiver
  Lambda (`brewlake.ops.lambda_handler.handler`, partial-batch responses) -> the events bucket.
- An e-mail subscription (context `alert_email`) for failures and quality breaches only.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from brewlake_aws.checks import LOG_GROUP_KMS, suppress
from brewlake_aws.config import EVENTS_PREFIX, SPARK_CLUSTER, DeployConfig

CLOUDTRAIL_API_CALL = "AWS API Call via CloudTrail"
# Lake writes worth a record: object deletes and every change to the bucket's own configuration.
# (Object PUTs are data events too, but a Delta commit writes dozens: the trail keeps them, the
# archive does not.)
LAKE_EVENT_NAMES = (
    "DeleteObject",
    "DeleteObjects",
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "PutBucketAcl",
    "PutBucketVersioning",
    "PutBucketLifecycle",
    "PutBucketEncryption",
    "DeleteBucketEncryption",
    "PutBucketPublicAccessBlock",
    "DeleteBucket",
)
# Control-plane calls on the platform itself: who changed the environment or the Spark setup.
PLATFORM_SOURCES = {
    "aws.airflow": ["UpdateEnvironment", "DeleteEnvironment", "CreateEnvironment"],
    "aws.ecs": ["RegisterTaskDefinition", "DeregisterTaskDefinition", "DeleteCluster"],
}
ALERT_EVENTS = ["failed", "quality_breached"]


class MonitoringStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        cid: str,
        *,
        config: DeployConfig,
        lake: s3.IBucket,
        events_bucket: s3.IBucket,
        access_logs: s3.IBucket,
        lambda_code: Path,
        **kwargs,
    ) -> None:
        super().__init__(scope, cid, **kwargs)
        # SNS needs a customer-managed key for EventBridge to publish to an encrypted topic.
        self.key = kms.Key(
            self,
            "AlertsKey",
            alias=f"alias/{config.name('alerts')}",
            description="brewlake alert topic and queues",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.DESTROY,
            pending_window=cdk.Duration.days(7),
        )
        self.key.grant(
            iam.ServicePrincipal("events.amazonaws.com"), "kms:GenerateDataKey*", "kms:Decrypt"
        )
        self.topic = sns.Topic(
            self,
            "Alerts",
            topic_name=config.name("alerts"),
            display_name="brewlake alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.dead_letters = sqs.Queue(
            self,
            "AlertsDlq",
            queue_name=config.name("alerts-dlq"),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            retention_period=cdk.Duration.days(14),
            enforce_ssl=True,
        )
        self.queue = sqs.Queue(
            self,
            "AlertsQueue",
            queue_name=config.name("alerts-archive"),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            # Six times the function's timeout, as Lambda's SQS guide advises.
            visibility_timeout=cdk.Duration.seconds(180),
            retention_period=cdk.Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=5, queue=self.dead_letters),
            enforce_ssl=True,
        )
        self.topic.add_subscription(subs.SqsSubscription(self.queue))
        if config.alert_email:
            self.topic.add_subscription(
                subs.EmailSubscription(
                    config.alert_email,
                    filter_policy={
                        "event": sns.SubscriptionFilter.string_filter(allowlist=ALERT_EVENTS)
                    },
                )
            )

        self.archiver = self._archiver(config, events_bucket, lambda_code)
        self.trail = self._trail(config, lake, access_logs)
        self.rules = self._rules(config, lake)
        cdk.CfnOutput(
            self,
            "AlertTopicArn",
            value=self.topic.topic_arn,
            description="BREWLAKE_ALERT_SNS_TOPIC_ARN",
        )
        cdk.CfnOutput(self, "AlertQueueUrl", value=self.queue.queue_url)

    def _archiver(self, config: DeployConfig, bucket: s3.IBucket, code: Path) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            "ArchiverLogs",
            log_group_name=f"/aws/lambda/{config.name('event-archiver')}",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        suppress(log_group, LOG_GROUP_KMS)
        role = iam.Role(
            self,
            "ArchiverRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="brewlake event archiver: read the queue, write the events bucket",
        )
        function = lambda_.Function(
            self,
            "Archiver",
            function_name=config.name("event-archiver"),
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="brewlake.ops.lambda_handler.handler",
            code=lambda_.Code.from_asset(str(code)),
            role=role,
            memory_size=256,
            timeout=cdk.Duration.seconds(30),
            reserved_concurrent_executions=5,
            log_group=log_group,
            environment={
                "BREWLAKE_EVENTS_PREFIX": f"s3://{bucket.bucket_name}/{EVENTS_PREFIX}",
                "BREWLAKE_LOG_FORMAT": "json",
            },
        )
        # Exactly the archive's prefix: HEAD (exists), PUT, and listing below it.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{EVENTS_PREFIX}/*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{EVENTS_PREFIX}/*"]}},
            )
        )
        log_group.grant_write(role)
        function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=10,
                max_batching_window=cdk.Duration.seconds(5),
                report_batch_item_failures=True,
            )
        )
        suppress(
            function,
            ("CKV_AWS_116", "SQS-triggered: failed messages go to the queue's own DLQ"),
            ("CKV_AWS_117", "Reaches only S3 and SQS through AWS endpoints; no VPC resources"),
            ("CKV_AWS_173", "Environment holds a bucket name and a log format, no secrets"),
        )
        return function

    def _trail(self, config: DeployConfig, lake: s3.IBucket, access_logs: s3.IBucket):
        trail_bucket = s3.Bucket(
            self,
            "TrailBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="trail/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-trail",
                    expiration=cdk.Duration.days(365),
                    noncurrent_version_expiration=cdk.Duration.days(30),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        trail = cloudtrail.Trail(
            self,
            "Trail",
            trail_name=config.name("trail"),
            bucket=trail_bucket,
            management_events=cloudtrail.ReadWriteType.WRITE_ONLY,
            is_multi_region_trail=False,
            include_global_service_events=True,
            enable_file_validation=True,
            send_to_cloud_watch_logs=False,
        )
        trail.add_s3_event_selector(
            [cloudtrail.S3EventSelector(bucket=lake)],
            read_write_type=cloudtrail.ReadWriteType.WRITE_ONLY,
            include_management_events=False,
        )
        suppress(
            trail,
            (
                "CKV_AWS_35",
                "SSE-S3 on the trail bucket; a KMS key would add cost, not access control",
            ),
            ("CKV_AWS_67", "Single-region by design: brewlake runs in one region"),
            (
                "CKV_AWS_252",
                "No SNS per log file: the rules forward what matters to the alert topic",
            ),
        )
        return trail

    def _rules(self, config: DeployConfig, lake: s3.IBucket) -> list[events.Rule]:
        target = targets.SnsTopic(self.topic)
        cluster_arn = self.format_arn(
            service="ecs", resource="cluster", resource_name=config.name(SPARK_CLUSTER)
        )
        rules = [
            events.Rule(
                self,
                "LakeChanges",
                rule_name=config.name("lake-changes"),
                description="CloudTrail: deletes and configuration changes on the lake bucket",
                event_pattern=events.EventPattern(
                    source=["aws.s3"],
                    detail_type=[CLOUDTRAIL_API_CALL],
                    detail={
                        "eventSource": ["s3.amazonaws.com"],
                        "eventName": list(LAKE_EVENT_NAMES),
                        "requestParameters": {"bucketName": [lake.bucket_name]},
                    },
                ),
                targets=[target],
            ),
            events.Rule(
                self,
                "PlatformChanges",
                rule_name=config.name("platform-changes"),
                description="CloudTrail: changes to the MWAA environment and the Spark task setup",
                event_pattern=events.EventPattern(
                    source=list(PLATFORM_SOURCES),
                    detail_type=[CLOUDTRAIL_API_CALL],
                    detail={"eventName": sorted({n for v in PLATFORM_SOURCES.values() for n in v})},
                ),
                targets=[target],
            ),
            events.Rule(
                self,
                "SparkTaskStopped",
                rule_name=config.name("spark-task-stopped"),
                description="ECS: every Spark job task that stopped (exit code and reason)",
                event_pattern=events.EventPattern(
                    source=["aws.ecs"],
                    detail_type=["ECS Task State Change"],
                    detail={"clusterArn": [cluster_arn], "lastStatus": ["STOPPED"]},
                ),
                targets=[target],
            ),
            events.Rule(
                self,
                "AirflowStatus",
                rule_name=config.name("airflow-status"),
                description="MWAA: the environment's status changes (e.g. UPDATE_FAILED)",
                event_pattern=events.EventPattern(
                    source=["aws.airflow"],
                    detail_type=["MWAA Environment Status Change"],
                ),
                targets=[target],
            ),
        ]
        return rules
