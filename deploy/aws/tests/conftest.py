"""One synthesis per session (jsii starts a node process: ~20 s), shared by every infra test."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

PREFIX = "brewlake"
CONTEXT = {"prefix": PREFIX, "region": "eu-west-1", "alert_email": "ops@example.com"}


@pytest.fixture(scope="session")
def assembly(tmp_path_factory):
    """The synthesised cloud assembly: every stack's template in a temporary cdk.out."""
    import aws_cdk as cdk
    from app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = build_app(cdk.App(outdir=str(outdir), context=CONTEXT))
    stacks = {c.stack_name: c for c in app.node.children if isinstance(c, cdk.Stack)}
    app.synth()
    return outdir, stacks


@pytest.fixture(scope="session")
def templates(assembly):
    """stack short name ("storage", ...) -> aws_cdk.assertions.Template."""
    from aws_cdk.assertions import Template

    outdir, stacks = assembly
    return {
        name.removeprefix(f"{PREFIX}-"): Template.from_json(
            json.loads((outdir / f"{name}.template.json").read_text())
        )
        for name in stacks
    }
