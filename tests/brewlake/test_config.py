from __future__ import annotations

import os
import re

import pytest

from brewlake.config import PROJECT_ROOT, Settings, load_settings, reference_markdown
from brewlake.errors import ConfigError


def test_defaults_need_no_services():
    s = load_settings(env={})
    assert s.lake_root == "./lake"
    assert s.spark_master == "local[*]"
    assert s.api_url == "https://api.openbrewerydb.org"
    assert s.conf_dir == str(PROJECT_ROOT / "conf")
    assert not s.is_s3


def test_environment_overrides_and_types():
    s = load_settings(
        env={
            "BREWLAKE_LAKE_ROOT": "s3://bucket/some/prefix",
            "BREWLAKE_API_CONCURRENCY": " 7 ",
            "BREWLAKE_SPARK_UI_ENABLED": "false",
            "BREWLAKE_QUARANTINE_MAX_SHARE": "0.2",
            "BREWLAKE_LOG_LEVEL": "",  # empty: not set
            "AWS_REGION": "eu-west-1",
        }
    )
    assert s.is_s3
    assert s.spark_lake_root == "s3a://bucket/some/prefix"  # s3:// mapped for Spark
    assert s.lake_root == "s3://bucket/some/prefix"  # kept for boto3
    assert (s.s3_bucket, s.s3_prefix) == ("bucket", "some/prefix")
    assert s.api_concurrency == 7
    assert s.spark_ui_enabled is False
    assert s.quarantine_max_share == 0.2
    assert s.log_level == "INFO"
    assert s.aws_region == "eu-west-1"


def test_an_explicit_environment_ignores_os_environ(monkeypatch):
    monkeypatch.setenv("BREWLAKE_API_CONCURRENCY", "9")
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert load_settings(env={}).api_concurrency == 4
    assert load_settings(env={}).aws_region == "us-east-1"
    assert load_settings().api_concurrency == 9
    assert load_settings().aws_region == "ap-south-1"
    assert Settings() == load_settings(env={})  # plain Settings(): the defaults, nothing read


def test_region_comes_from_the_standard_aws_variables_only():
    assert load_settings(env={"AWS_DEFAULT_REGION": "eu-west-2"}).aws_region == "eu-west-2"
    both = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-2"}
    assert load_settings(env=both).aws_region == "eu-west-1"
    empty = {"AWS_REGION": "", "AWS_DEFAULT_REGION": "eu-west-2"}
    assert load_settings(env=empty).aws_region == "eu-west-2"
    assert load_settings(env={"BREWLAKE_AWS_REGION": "eu-west-3"}).aws_region == "us-east-1"


def test_arguments_win_over_environment_and_local_toml(tmp_path):
    (tmp_path / "local.toml").write_text('api_concurrency = 2\naws_region = "eu-north-1"\n')
    env = {"BREWLAKE_CONF_DIR": str(tmp_path), "BREWLAKE_API_CONCURRENCY": "3"}
    s = load_settings(env=env, api_concurrency=5, aws_region="eu-central-1")
    assert (s.api_concurrency, s.aws_region, s.conf_dir) == (5, "eu-central-1", str(tmp_path))
    with pytest.raises(ConfigError, match=r"^unknown setting 'api_concurency'$"):
        load_settings(env={}, api_concurency=5)


def test_local_toml_layer_sits_between_defaults_and_env(tmp_path):
    (tmp_path / "local.toml").write_text(
        'api_concurrency = 2\nspark_master = "local[1]"\naws_region = "eu-north-1"\n'
    )
    env = {"BREWLAKE_CONF_DIR": str(tmp_path), "BREWLAKE_SPARK_MASTER": "local[3]"}
    s = load_settings(env=env)
    assert s.api_concurrency == 2
    assert s.aws_region == "eu-north-1"
    assert s.spark_master == "local[3]"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("api_concurrency = ", "not valid TOML"),
        ("api_concurency = 2", "unknown setting 'api_concurency'"),
        ('aws_secret_access_key = "x"', "aws_secret_access_key is a secret; set it in the env"),
        ('conf_dir = "/elsewhere"', "conf_dir cannot move itself; set BREWLAKE_CONF_DIR"),
        ('api_concurrency = "two"', "api_concurrency='two' is not a valid int"),
        ('log_dir = "s3://bucket/logs"', "log_dir='s3://bucket/logs': .* use a local folder"),
    ],
)
def test_bad_local_toml_names_the_file_and_the_key(tmp_path, text, message):
    local = tmp_path / "local.toml"
    local.write_text(text + "\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(local))}: {message}") as failure:
        load_settings(env={"BREWLAKE_CONF_DIR": str(tmp_path)})
    assert "\n" not in str(failure.value)


def test_s3_endpoint_falls_back_to_the_sdk_variables(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    assert load_settings(env={}).effective_s3_endpoint == "http://127.0.0.1:1"
    s = load_settings(env={"BREWLAKE_S3_ENDPOINT": "http://127.0.0.1:2"})
    assert s.effective_s3_endpoint == "http://127.0.0.1:2"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BREWLAKE_LAKE_ROOT": "gs://bucket/lake"}, "BREWLAKE_LAKE_ROOT='gs://bucket/lake': unsu"),
        ({"BREWLAKE_LAKE_ROOT": "s3a:///no-bucket"}, "BREWLAKE_LAKE_ROOT='s3a:///no-bucket': no b"),
        ({"BREWLAKE_API_URL": "api.openbrewerydb.org"}, "BREWLAKE_API_URL=.* not an http"),
        ({"BREWLAKE_S3_ENDPOINT": "localhost:9000"}, "BREWLAKE_S3_ENDPOINT=.* not an http"),
        ({"BREWLAKE_ALERT_WEBHOOK_URL": "ftp://hook"}, "BREWLAKE_ALERT_WEBHOOK_URL=.* not an"),
        (
            {"BREWLAKE_API_CONCURRENCY": "abc"},
            "environment: BREWLAKE_API_CONCURRENCY='abc' is not a",
        ),
        ({"BREWLAKE_API_CONCURRENCY": "0"}, "BREWLAKE_API_CONCURRENCY='0': .* greater than or eq"),
        ({"BREWLAKE_API_PAGE_SIZE": "500"}, "BREWLAKE_API_PAGE_SIZE='500': .* less than or equal"),
        ({"BREWLAKE_SPARK_SHUFFLE_PARTITIONS": "-1"}, "BREWLAKE_SPARK_SHUFFLE_PARTITIONS='-1'"),
        ({"BREWLAKE_QUARANTINE_MAX_SHARE": "1.5"}, "BREWLAKE_QUARANTINE_MAX_SHARE='1.5': "),
        (
            {"BREWLAKE_SPARK_UI_ENABLED": "maybe"},
            "environment: BREWLAKE_SPARK_UI_ENABLED='maybe' is",
        ),
        ({"BREWLAKE_LOG_FORMAT": "xml"}, "BREWLAKE_LOG_FORMAT='xml': use 'text' or 'json'"),
        ({"BREWLAKE_LOG_DIR": "s3://b/logs"}, "BREWLAKE_LOG_DIR='s3://b/logs': Spark writes .* lo"),
    ],
)
def test_bad_configuration_names_the_variable(env, message):
    with pytest.raises(ConfigError, match=f"^{message}") as failure:
        load_settings(env=env)
    assert "\n" not in str(failure.value)


def test_a_value_of_the_wrong_type_names_its_variable_and_the_type():
    # The Airflow failure alert quotes this message (tests/dags/test_config_failures.py).
    with pytest.raises(ConfigError) as failure:
        load_settings(env={"BREWLAKE_API_PAGE_SIZE": "lots"})
    assert str(failure.value) == "environment: BREWLAKE_API_PAGE_SIZE='lots' is not a valid int"
    with pytest.raises(ConfigError) as failure:
        load_settings(env={}, gold_sla_hours="soon")
    assert str(failure.value) == "BREWLAKE_GOLD_SLA_HOURS='soon' is not a valid float"


def test_every_bad_variable_is_named_on_one_line():
    env = {"BREWLAKE_API_CONCURRENCY": "x", "BREWLAKE_LOG_FORMAT": "xml"}
    with pytest.raises(ConfigError) as failure:
        load_settings(env=env)
    message = str(failure.value)
    assert "BREWLAKE_API_CONCURRENCY='x'" in message
    assert "BREWLAKE_LOG_FORMAT='xml'" in message
    assert "\n" not in message


def test_replace_validates_and_keeps_the_rest():
    s = load_settings(env={"AWS_SECRET_ACCESS_KEY": "sup3rs3cret"})
    changed = s.replace(api_concurrency=9, aws_region="eu-west-1")
    assert (changed.api_concurrency, changed.aws_region) == (9, "eu-west-1")
    assert changed.aws_secret_access_key == "sup3rs3cret"
    assert changed.replace(api_concurrency=4, aws_region="us-east-1") == s
    with pytest.raises(ConfigError, match=r"^BREWLAKE_LAKE_ROOT='gs://x': unsupported scheme"):
        s.replace(lake_root="gs://x")
    with pytest.raises(ConfigError, match=r"^unknown setting 'nope'"):
        s.replace(nope=1)
    with pytest.raises(ValueError, match="frozen"):
        s.api_concurrency = 1


def test_secrets_are_never_in_repr_or_public_dict():
    s = load_settings(env={"AWS_ACCESS_KEY_ID": "AKIAXXXX", "AWS_SECRET_ACCESS_KEY": "sup3rs3cret"})
    assert s.aws_secret_access_key == "sup3rs3cret"
    assert "sup3rs3cret" not in repr(s)
    assert "AKIAXXXX" not in repr(s)
    public = s.public_dict()
    assert not {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"} & set(public)
    assert public["aws_region"] == "us-east-1"
    assert set(public) | {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"} == set(
        Settings.model_fields
    )


def test_shuffle_partitions_auto_follows_the_master():
    auto = load_settings(env={}, spark_master="local[3]")
    assert auto.shuffle_partitions == 3
    assert load_settings(env={}, spark_master="local").shuffle_partitions == 1
    assert load_settings(env={}, spark_master="spark://m:7077").shuffle_partitions == 64
    assert load_settings(env={}, spark_shuffle_partitions=5).shuffle_partitions == 5
    star = load_settings(env={}, spark_master="local[*]").shuffle_partitions
    assert star == max(1, os.cpu_count() or 1)
    with pytest.raises(ConfigError, match="BREWLAKE_SPARK_SHUFFLE_PARTITIONS"):
        load_settings(env={}, spark_shuffle_partitions=-1)


def test_configuration_reference_is_current():
    doc = (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert doc == reference_markdown(), (
        "docs/configuration.md is stale: python -m brewlake.config > docs/configuration.md"
    )


def test_configuration_reference_has_a_row_per_field():
    rows = [line for line in reference_markdown().splitlines() if line.startswith("| `")]
    assert len(rows) == len(Settings.model_fields)
    by_field = {row.split(" | ")[1].strip("`"): row for row in rows}
    assert set(by_field) == set(Settings.model_fields)
    assert by_field["api_concurrency"].startswith("| `BREWLAKE_API_CONCURRENCY` |")
    assert " | int | `4` | " in by_field["api_concurrency"]
    assert by_field["aws_region"].startswith("| `AWS_REGION`, `AWS_DEFAULT_REGION` |")
    assert "| `<checkout>/conf` |" in by_field["conf_dir"]  # not this machine's path
    assert str(PROJECT_ROOT) not in reference_markdown()
    assert all(f.description for f in Settings.model_fields.values())
