"""The archiver Lambda's bundle needs no Spark: what importing its handler pulls in."""

from __future__ import annotations

import json
import subprocess
import sys

from brewlake.config import PROJECT_ROOT

PROBE = r"""
import json, sys
before = set(sys.modules)
import brewlake.ops.lambda_handler
print(json.dumps(sorted({m.split(".")[0] for m in set(sys.modules) - before})))
"""
# What the Lambda layer installs (deploy/aws/lambda-requirements.txt) and what those bring along.
LAYER = {
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "annotated_types",
    "typing_inspection",
    "typing_extensions",
    "dotenv",
    "structlog",
    "typer",
    "click",
    "rich",
    "pygments",
    "markdown_it",
    "mdurl",
    "shellingham",
    "annotated_doc",
}
NEVER = {"pyspark", "py4j", "delta", "airflow", "bronze", "silver", "gold", "pandas", "pyarrow"}


def test_the_handler_imports_only_the_standard_library_and_the_layer():
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
        check=True,
    )
    imported = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not imported & NEVER
    third_party = {
        m
        for m in imported - {"brewlake"}
        if m not in sys.stdlib_module_names and not m.startswith("_")
    }
    # pydantic-settings imports these when they are installed (optional, guarded imports).
    assert third_party - LAYER <= {"attr", "greenlet"}, sorted(third_party - LAYER)
