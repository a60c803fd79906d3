"""Justified checkov suppressions, written into each resource's CloudFormation metadata."""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct


def skip_checks(construct: IConstruct, **reasons: str) -> None:
    """`skip_checks(bucket, CKV_AWS_18="why")`: checkov reads Metadata.checkov.skip."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    assert isinstance(resource, CfnResource), f"{construct.node.path} has no CFN resource"
    existing = resource.get_metadata("checkov") or {"skip": []}
    existing["skip"] += [{"id": check, "comment": why} for check, why in sorted(reasons.items())]
    resource.add_metadata("checkov", existing)
