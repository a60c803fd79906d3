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


def test_commit_versions_are_the_json_commits_newest_first(tmp_path):
    table = tmp_path / "silver/breweries"
    write_log(table, *([{"commitInfo": {"userMetadata": str(v)}}] for v in range(12)))
    log_dir = table / "_delta_log"
    (log_dir / f"{10:020d}.checkpoint.parquet").write_bytes(b"")
    (log_dir / f"{11:020d}.crc").write_text("{}")
    (log_dir / "_last_checkpoint").write_text("{}")
    for version in range(3):  # log cleanup after the checkpoint
        (log_dir / f"{version:020d}.json").unlink()
    store = LocalStore(tmp_path)
    assert delta.commit_versions(store, "silver/breweries") == list(range(11, 2, -1))
    assert delta.head_commit(store, "silver/breweries") == (11, {"userMetadata": "11"})
    assert delta.commit_versions(store, "silver/missing") == []
    assert delta.head_commit(store, "silver/missing") is None
