"""The VPC MWAA requires (two private subnets in two AZs) and the Spark tasks share.

One NAT gateway (not one per AZ): MWAA's workers and Fargate reach PyPI, ECR and the Open
Brewery DB through it; a second would double the largest idle cost for availability a daily
batch does not need. S3 traffic takes the free gateway endpoint instead of the NAT.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from brewlake_aws.checks import LOG_GROUP_KMS, suppress
from brewlake_aws.config import DeployConfig


class NetworkStack(cdk.Stack):
    def __init__(self, scope: Construct, cid: str, *, config: DeployConfig, **kwargs) -> None:
        super().__init__(scope, cid, **kwargs)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            vpc_name=config.name("vpc"),
            ip_addresses=ec2.IpAddresses.cidr("10.42.0.0/16"),
            max_azs=2,
            nat_gateways=1,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
            restrict_default_security_group=True,
        )
        flow_logs = logs.LogGroup(
            self,
            "FlowLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        suppress(flow_logs, LOG_GROUP_KMS)
        # CDK's own custom resource that strips the default security group's rules.
        for child in self.node.find_all():
            if (
                isinstance(child, cdk.CfnResource)
                and child.cfn_resource_type == "AWS::Lambda::Function"
            ):
                suppress(
                    child,
                    ("CKV_AWS_115", "CDK's one-shot deploy-time handler; runs once per deploy"),
                    ("CKV_AWS_116", "CDK's deploy-time handler; CloudFormation reports failures"),
                    ("CKV_AWS_117", "CDK's deploy-time handler calls only the EC2 API"),
                )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        # MWAA's components talk to each other on any port within this group; nothing else enters.
        self.mwaa_sg = ec2.SecurityGroup(
            self,
            "MwaaSg",
            vpc=self.vpc,
            description="MWAA environment: self-referencing, egress to AWS APIs and the internet",
            allow_all_outbound=True,
        )
        self.mwaa_sg.add_ingress_rule(self.mwaa_sg, ec2.Port.all_traffic(), "MWAA components")
        self.spark_sg = ec2.SecurityGroup(
            self,
            "SparkSg",
            vpc=self.vpc,
            description="Fargate Spark tasks: no ingress; egress to S3, ECR, SNS, the source API",
            allow_all_outbound=True,
        )
        self.private_subnets = self.vpc.select_subnets(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
        )
