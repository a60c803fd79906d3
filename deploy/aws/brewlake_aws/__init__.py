"""brewlake's AWS deployment as code (AWS CDK v2): one stack per concern.

storage        lake, events, Airflow-source and access-log buckets
network        the VPC MWAA and the Spark tasks run in
monitoring     CloudTrail -> EventBridge -> SNS -> SQS (+DLQ) -> archiver Lambda -> events bucket
compute        ECS Fargate: the project's own image runs each layer's Spark job
orchestration  the MWAA environment and its least-privilege execution role
"""
