"""What a layer run reports: counts, table versions and quality checks.

Layers return a `LayerResult` from their `run()`; they never talk to monitoring themselves. The
job wrapper (`brewlake.runtime.job`) hands the result to `brewlake.ops.monitor`, which records
and alerts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any


def new_run_id() -> str:
    """Sortable, unique: UTC timestamp + random suffix."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class QualityCheck:
    """One rule evaluated once: did `observed` satisfy `threshold`?"""

    rule: str
    passed: bool
    observed: float | None = None
    threshold: float | None = None
    detail: str = ""


@dataclass
class LayerResult:
    """The measurable outcome of one layer run (one row of ops.pipeline_runs)."""

    layer: str
    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    duplicates: int = 0
    batch_ids: list[str] = field(default_factory=list)
    # table name -> (version before, version after); None where the table did not exist.
    table_versions: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    checks: list[QualityCheck] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed_checks(self) -> list[QualityCheck]:
        return [c for c in self.checks if not c.passed]
