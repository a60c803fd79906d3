"""cfn-lint and checkov on every synthesised template, as a reviewer would run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
# CDK writes DependsOn on a function's role policy next to the GetAtt of the role: harmless.
CFN_LINT_IGNORED = ("W3005",)


def test_cfn_lint_passes_on_every_template(assembly):
    outdir, stacks = assembly
    files = sorted(str(p) for p in Path(outdir).glob("*.template.json"))
    assert len(files) == len(stacks) == 5
    run = subprocess.run(
        [str(BIN / "cfn-lint"), "--ignore-checks", *CFN_LINT_IGNORED, "--", *files],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_checkov_finds_nothing_and_every_skip_is_justified(assembly):
    outdir, _ = assembly
    run = subprocess.run(
        [
            str(BIN / "checkov"),
            "--directory",
            str(outdir),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    report = json.loads(run.stdout)
    results = report["results"]
    failed = [(c["check_id"], c["resource"]) for c in results["failed_checks"]]
    assert failed == [], failed
    assert report["summary"]["passed"] > 100
    assert report["summary"]["skipped"] >= 10, (report["summary"], list(results))
    for check in results["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment", "")) > 20, check["check_id"]
