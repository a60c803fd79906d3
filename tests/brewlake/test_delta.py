"""brewlake.delta's log reading, on hand-written Delta logs (no Spark)."""

from __future__ import annotations

import json

from brewlake import delta
from brewlake.storage import LocalStore


def write_log(table, *commits):
    log_dir = table / "_delta_log"
    log_dir.mkdir(parents=True)
    for version, actions in enumerate(commits):
        lines = "\n".join(json.dumps(a) for a in actions) + "\n"
        (log_dir / f"{version:020d}.json").write_text(lines)


def test_live_files_follow_adds_removes_and_deletion_vectors(tmp_path):
    dv = {"storageType": "u", "cardinality": 1}
    write_log(
        tmp_path,
        [{"commitInfo": {}}, {"add": {"path": "a.parquet"}}, {"add": {"path": "b.parquet"}}],
        [{"remove": {"path": "b.parquet"}}, {"add": {"path": "c.parquet"}}],
        # A deletion vector attached to a: the commit's add of the same path comes after.
        [{"add": {"path": "a.parquet", "deletionVector": dv}}, {"remove": {"path": "a.parquet"}}],
    )
    assert delta.live_files(tmp_path) == {"a.parquet": dv, "c.parquet": None}
    assert [v for v, _ in delta.log_commits(tmp_path)] == [0, 1, 2]


def test_no_log_means_no_files(tmp_path):
    assert delta.live_files(tmp_path / "missing") == {}
    assert not delta.has_log(LocalStore(tmp_path), "silver/breweries")


def test_has_log_needs_a_commit(tmp_path):
    (tmp_path / "silver/breweries/_delta_log").mkdir(parents=True)
    assert not delta.has_log(LocalStore(tmp_path), "silver/breweries")
    write_log(tmp_path / "gold/counts", [{"add": {"path": "x.parquet"}}])
    assert delta.has_log(LocalStore(tmp_path), "gold/counts")
