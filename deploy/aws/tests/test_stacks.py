"""The synthesised templates: every resource exists, is wired as the seed's design says, and is
locked down (encryption, TLS, public access, least-privilege IAM)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

STACKS = {"storage", "network", "monitoring", "compute", "orchestration"}


def resources(template, kind: str) -> dict:
    return template.find_resources(kind)


def one(template, kind: str) -> tuple[str, dict]:
    found = resources(template, kind)
    assert len(found) == 1, f"{kind}: {sorted(found)}"
    return next(iter(found.items()))


def refs(value) -> str:
    """A property as text, so a test can ask which logical ids/exports it names."""
    return json.dumps(value, sort_keys=True)


def test_one_stack_per_concern(templates):
    assert set(templates) == STACKS


def test_buckets_are_encrypted_versioned_private_and_tls_only(templates):
    storage = templates["storage"]
    buckets = resources(storage, "AWS::S3::Bucket")
    assert len(buckets) == 4  # lake, events, airflow source, access logs
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", name
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, name
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        assert bucket["DeletionPolicy"] == "Retain", name
    policies = resources(storage, "AWS::S3::BucketPolicy")
    tls_only = [
        p
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(tls_only) == 4


def test_lake_lifecycle_ages_out_bronze_and_noncurrent_versions(templates):
    storage = templates["storage"]
    [lake] = [
        b
        for b in resources(storage, "AWS::S3::Bucket").values()
        if {"Key": "brewlake:role", "Value": "lake"} in b["Properties"].get("Tags", [])
    ]
    rules = {r["Id"]: r for r in lake["Properties"]["LifecycleConfiguration"]["Rules"]}
    bronze = rules["bronze-batches-age-out"]
    assert bronze["Prefix"] == "lake/bronze/"
    assert [t["StorageClass"] for t in bronze["Transitions"]] == ["STANDARD_IA", "GLACIER_IR"]
    assert bronze["ExpirationInDays"] == 400
    assert rules["noncurrent-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert lake["Properties"]["LoggingConfiguration"]["LogFilePrefix"] == "lake/"


def test_trail_logs_management_events_and_the_lake_buckets_data_events(templates):
    monitoring = templates["monitoring"]
    _, trail = one(monitoring, "AWS::CloudTrail::Trail")
    props = trail["Properties"]
    assert props["IsLogging"] is True and props["EnableLogFileValidation"] is True
    selectors = props["EventSelectors"]
    management = [s for s in selectors if s.get("IncludeManagementEvents")]
    data = [s for s in selectors if s.get("DataResources")]
    assert management and data
    [resource] = data[0]["DataResources"]
    assert resource["Type"] == "AWS::S3::Object"
    assert "ExportsOutputFnGetAttLake" in refs(resource["Values"])


def test_rules_forward_trail_and_task_events_to_the_alert_topic(templates):
    monitoring = templates["monitoring"]
    topic_id, _ = one(monitoring, "AWS::SNS::Topic")
    rules = resources(monitoring, "AWS::Events::Rule")
    patterns = {r["Properties"]["Name"]: r["Properties"]["EventPattern"] for r in rules.values()}
    assert set(patterns) == {
        "brewlake-lake-changes",
        "brewlake-platform-changes",
        "brewlake-spark-task-stopped",
        "brewlake-airflow-status",
    }
    assert patterns["brewlake-airflow-status"] == {
        "source": ["aws.airflow"],
        "detail-type": ["MWAA Environment Status Change"],
    }
    lake = patterns["brewlake-lake-changes"]
    assert lake["detail-type"] == ["AWS API Call via CloudTrail"]
    assert "DeleteObject" in lake["detail"]["eventName"]
    assert "ExportsOutputRefLake" in refs(lake["detail"]["requestParameters"]["bucketName"])
    ecs = patterns["brewlake-spark-task-stopped"]
    assert ecs["detail-type"] == ["ECS Task State Change"]
    assert ecs["detail"]["lastStatus"] == ["STOPPED"]
    assert "cluster/brewlake-spark" in refs(ecs["detail"]["clusterArn"])
    for rule in rules.values():
        [target] = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Ref": topic_id}
    # EventBridge may publish to the (KMS-encrypted) topic.
    _, policy = one(monitoring, "AWS::SNS::TopicPolicy")
    principals = refs(policy["Properties"]["PolicyDocument"])
    assert "events.amazonaws.com" in principals


def test_topic_fans_out_to_a_queue_with_a_dead_letter_queue_and_failures_by_email(templates):
    monitoring = templates["monitoring"]
    topic_id, topic = one(monitoring, "AWS::SNS::Topic")
    assert topic["Properties"]["TopicName"] == "brewlake-alerts"
    assert "KmsMasterKeyId" in topic["Properties"]
    queues = resources(monitoring, "AWS::SQS::Queue")
    by_name = {q["Properties"]["QueueName"]: (qid, q) for qid, q in queues.items()}
    queue_id, queue = by_name["brewlake-alerts-archive"]
    dlq_id, _ = by_name["brewlake-alerts-dlq"]
    assert queue["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 5,
    }
    subscriptions = {
        s["Properties"]["Protocol"]: s["Properties"]
        for s in resources(monitoring, "AWS::SNS::Subscription").values()
    }
    assert subscriptions["sqs"]["TopicArn"] == {"Ref": topic_id}
    assert subscriptions["sqs"]["Endpoint"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert subscriptions["email"]["Endpoint"] == "ops@example.com"
    assert subscriptions["email"]["FilterPolicy"] == {"event": ["failed", "quality_breached"]}


def test_queue_feeds_the_archiver_which_writes_the_events_bucket(templates):
    monitoring = templates["monitoring"]
    function_id, function = one(monitoring, "AWS::Lambda::Function")
    props = function["Properties"]
    assert props["Handler"] == "brewlake.ops.lambda_handler.handler"
    assert props["Runtime"] == "python3.11"
    prefix = refs(props["Environment"]["Variables"]["BREWLAKE_EVENTS_PREFIX"])
    assert "s3://" in prefix and "ExportsOutputRefEvents" in prefix and "/events" in prefix
    queues = resources(monitoring, "AWS::SQS::Queue")
    [queue_id] = [q for q, v in queues.items() if v["Properties"]["QueueName"].endswith("archive")]
    monitoring.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [queue_id, "Arn"]},
            "FunctionName": {"Ref": function_id},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )


def statements(template) -> list[dict]:
    found = []
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in resources(template, kind).values():
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    for role in resources(template, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            found += policy["PolicyDocument"]["Statement"]
    return found


NO_RESOURCE_ACTIONS = (
    ["ecr:GetAuthorizationToken"],
    ["logs:DescribeLogGroups", "s3:GetAccountPublicAccessBlock"],
    ["cloudwatch:PutMetricData"],
)


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_no_wildcard_action_on_a_wildcard_resource(templates, stack):
    for statement in statements(templates[stack]):
        actions = as_list(statement.get("Action", []))
        resources_ = as_list(statement.get("Resource", []))
        assert "*" not in actions, statement
        assert not any(a.endswith(":*") for a in actions if "*" in resources_), statement
        if "*" in resources_:
            # The APIs that take no resource: ECR's login token (the task's image pull), the two
            # account-wide reads of MWAA's documented execution role, and CloudWatch metrics,
            # scoped by their namespace instead.
            assert actions in NO_RESOURCE_ACTIONS, statement
            if actions == ["cloudwatch:PutMetricData"]:
                assert statement["Condition"] == {
                    "StringEquals": {"cloudwatch:namespace": "AmazonMWAA"}
                }


def s3_statements(template) -> list[dict]:
    return [
        s
        for s in statements(template)
        if any(str(a).startswith("s3:") for a in as_list(s["Action"]))
    ]


def test_archiver_may_write_only_the_events_prefix(templates):
    [put, listing] = s3_statements(templates["monitoring"])
    assert sorted(put["Action"]) == ["s3:GetObject", "s3:PutObject"]
    assert "ExportsOutputFnGetAttEvents" in refs(put["Resource"]) and "/events/*" in refs(put)
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["events/*"]}}


def test_spark_job_may_use_only_the_lake_prefix(templates):
    compute = templates["compute"]
    for statement in s3_statements(compute):
        text = refs(statement["Resource"])
        assert "ExportsOutputFnGetAttLake" in text, statement
        if "s3:PutObject" in as_list(statement["Action"]):
            assert "/lake/*" in text
    compute.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "RequiresCompatibilities": ["FARGATE"],
            "Cpu": "4096",
            "Memory": "16384",
            "ContainerDefinitions": [
                Match.object_like(
                    {
                        "Name": "brewlake",
                        "Environment": Match.array_with(
                            [{"Name": "BREWLAKE_SPARK_MASTER", "Value": "local[*]"}]
                        ),
                    }
                )
            ],
        },
    )
    one(compute, "AWS::ECS::Cluster")
    one(compute, "AWS::ECR::Repository")


def test_mwaa_environment_runs_the_dag_against_ecs(templates):
    orchestration = templates["orchestration"]
    _, env = one(orchestration, "AWS::MWAA::Environment")
    props = env["Properties"]
    assert props["AirflowVersion"] == "3.0.6"
    assert (props["DagS3Path"], props["RequirementsS3Path"], props["PluginsS3Path"]) == (
        "dags",
        "requirements.txt",
        "plugins.zip",
    )
    assert props["StartupScriptS3Path"] == "startup.sh"
    assert props["WebserverAccessMode"] == "PRIVATE_ONLY"
    assert len(props["NetworkConfiguration"]["SubnetIds"]) == 2
    options = props["AirflowConfigurationOptions"]
    assert options["brewlake.spark_backend"] == "ecs"
    assert options["brewlake.ecs_container"] == "brewlake"
    assert "ExportsOutputRefCluster" in refs(options["brewlake.ecs_cluster"])
    assert "ExportsOutputRefAlerts" in refs(options["brewlake.alert_sns_topic_arn"])
    # The execution role may run exactly the Spark task definition, in its cluster.
    [run_task] = [s for s in statements(orchestration) if s["Action"] == "ecs:RunTask"]
    # Any revision of the family, by name: no import of a revision-specific ARN.
    assert ":task-definition/brewlake-spark-job:*" in refs(run_task["Resource"])
    assert "ExportsOutput" not in refs(run_task["Resource"])
    assert options["brewlake.ecs_task_definition"] == "brewlake-spark-job"
    assert "ecs:cluster" in refs(run_task["Condition"])
    [pass_role] = [s for s in statements(orchestration) if s["Action"] == "iam:PassRole"]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }


def test_vpc_has_two_private_subnets_and_flow_logs(templates):
    network = templates["network"]
    subnets = resources(network, "AWS::EC2::Subnet")
    private = [s for s in subnets.values() if not s["Properties"].get("MapPublicIpOnLaunch")]
    assert len(private) == 2
    assert len(resources(network, "AWS::EC2::NatGateway")) == 1
    one(network, "AWS::EC2::FlowLog")
    one(network, "AWS::EC2::VPCEndpoint")
