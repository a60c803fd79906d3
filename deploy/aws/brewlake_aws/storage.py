"""Buckets: the lake, the event archive, MWAA's source (DAGs, requirements, plugins), access logs.

Encryption is SSE-S3 (AES-256, S3-managed keys), not SSE-KMS: Spark and Delta read and write many
small objects (every `_delta_log` commit, every checkpoint), and SSE-KMS would add a KMS request
per object (and a $1/month key) with no access-control gain here, since every reader already
needs an IAM grant on the bucket. A team that needs key-level separation of duties switches
`encryption` to `KMS` in one place below and grants `kms:Decrypt` to the same roles.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

from brewlake_aws.checks import suppress
from brewlake_aws.config import BRONZE_PREFIX, DeployConfig


class StorageStack(cdk.Stack):
    def __init__(self, scope: Construct, cid: str, *, config: DeployConfig, **kwargs) -> None:
        super().__init__(scope, cid, **kwargs)
        self.config = config
        # Server access logs of the other buckets land here (a bucket cannot log to itself).
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=cdk.Duration.days(config.log_retention_days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        cdk.Tags.of(self.access_logs).add("brewlake:role", "access-logs")
        suppress(
            self.access_logs,
            ("CKV_AWS_18", "The access-log target itself: logging it would log its own writes"),
        )
        self.lake = self._bucket(
            "Lake",
            "lake/",
            [
                s3.LifecycleRule(
                    id="bronze-batches-age-out",
                    prefix=BRONZE_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=cdk.Duration.days(30),
                        ),
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=cdk.Duration.days(90),
                        ),
                    ],
                    expiration=cdk.Duration.days(config.bronze_retention_days),
                ),
            ],
        )
        self.events = self._bucket("Events", "events/", [])
        self.airflow = self._bucket("AirflowSource", "airflow/", [])

    def _bucket(self, cid: str, log_prefix: str, rules: list[s3.LifecycleRule]) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            cid,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=log_prefix,
            lifecycle_rules=[
                *rules,
                s3.LifecycleRule(
                    id="noncurrent-versions",
                    noncurrent_version_expiration=cdk.Duration.days(
                        self.config.noncurrent_retention_days
                    ),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                    expired_object_delete_marker=True,
                ),
            ],
            # The lake and its history outlive the stack: `cdk destroy` leaves the data.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        cdk.Tags.of(bucket).add("brewlake:role", cid.lower())
        return bucket
