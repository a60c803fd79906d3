"""Build the archiver Lambda's code folder: brewlake's own package plus the few libraries
`brewlake.ops.lambda_handler` imports, and nothing of Spark.

The handler imports brewlake.config (pydantic, pydantic-settings), brewlake.log (structlog),
brewlake.ops.events (typer, via brewlake.command) and brewlake.storage (boto3, which the Lambda
Python runtime provides). pyspark, delta and the layer packages are never imported, so they are
not shipped: the folder is a few MB instead of the ~450 MB pyspark alone would add (over Lambda's
250 MB unzipped limit). Versions come from the repository's constraints.txt, wheels for the
Lambda runtime's platform (manylinux x86_64, CPython 3.11) from PyPI (or pip's cache).

    python -m brewlake_aws.lambda_package [OUT]     # default: deploy/aws/build/archiver
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DEFAULT_OUT = REPO / "deploy" / "aws" / "build" / "archiver"
# What the handler's import closure needs beyond the standard library and the runtime's boto3.
RUNTIME_PACKAGES = (
    "annotated-doc",
    "annotated-types",
    "click",
    "markdown-it-py",
    "mdurl",
    "pydantic",
    "pydantic-core",
    "pydantic-settings",
    "pygments",
    "python-dotenv",
    "rich",
    "shellingham",
    "structlog",
    "typer",
    "typing-extensions",
    "typing-inspection",
)
# Parts of brewlake that need Spark, Airflow or a terminal: not in the function.
SKIPPED = ("devkit", "airflow", "__pycache__")
LAMBDA_PYTHON = "3.11"
LAMBDA_PLATFORM = "manylinux2014_x86_64"


def pins(constraints: Path = REPO / "constraints.txt") -> list[str]:
    """`name==version` of each runtime package, as constraints.txt pins it."""
    pinned = {}
    for line in constraints.read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            pinned[name.lower().replace("_", "-")] = version
    missing = [p for p in RUNTIME_PACKAGES if p not in pinned]
    if missing:
        raise SystemExit(
            f"constraints.txt pins none of {', '.join(missing)}; run `make constraints`"
        )
    return [f"{p}=={pinned[p]}" for p in RUNTIME_PACKAGES]


def build(out: Path = DEFAULT_OUT) -> Path:
    """(Re)create `out`: brewlake's sources, then the pinned wheels for the Lambda platform."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(
        REPO / "brewlake", out / "brewlake", ignore=shutil.ignore_patterns(*SKIPPED, "*.pyc")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--target",
            str(out),
            "--platform",
            LAMBDA_PLATFORM,
            "--python-version",
            LAMBDA_PYTHON,
            "--implementation",
            "cp",
            *pins(),
        ],
        check=True,
    )
    for junk in out.glob("*.dist-info"):
        shutil.rmtree(junk)
    shutil.rmtree(out / "bin", ignore_errors=True)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT))
