"""The archiver Lambda's code and dependency layer, staged under deploy/aws/build/.

Code: the `brewlake` package as it is in this checkout (its handler imports no pyspark, no layer
package). Layer: `make aws-lambda-deps` pip-installs lambda-requirements.txt for the Lambda
platform into build/lambda-deps/python; synth works without it (an empty layer is staged), deploy
checks it first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from brewlake_aws.config import REPO_ROOT

BUILD = Path(__file__).resolve().parents[1] / "build"
HANDLER = "brewlake.ops.lambda_handler.handler"


def stage_code() -> Path:
    target = BUILD / "lambda-code"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(
        REPO_ROOT / "brewlake",
        target / "brewlake",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "devkit"),
    )
    return target


def stage_layer() -> Path:
    target = BUILD / "lambda-deps"
    (target / "python").mkdir(parents=True, exist_ok=True)
    return target
