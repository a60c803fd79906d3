"""Justified checkov suppressions, written into each resource's CloudFormation metadata
(`Metadata.checkov.skip`): checkov reads them, a reviewer sees them next to the resource."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

LOG_GROUP_KMS = (
    "CKV_AWS_158",
    "Logs hold job and archiver output, no secrets (brewlake scrubs them); CloudWatch Logs "
    "encrypts at rest with its own keys, a CMK would add cost and a key policy, no access control",
)


def suppress(construct: IConstruct, *checks: tuple[str, str]) -> None:
    """`suppress(bucket, ("CKV_AWS_18", "why"))`: each check skipped with its reason."""
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    assert isinstance(resource, cdk.CfnResource), f"{construct.node.path} has no CFN resource"
    existing = resource.get_metadata("checkov") or {"skip": []}
    existing["skip"] += [{"id": check, "comment": why} for check, why in checks]
    resource.add_metadata("checkov", existing)
