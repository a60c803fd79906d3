from __future__ import annotations

import os

import pytest

from brewlake.config import load_settings
from brewlake.errors import ConfigError


def test_defaults_need_no_services():
    s = load_settings(env={})
    assert s.lake_root == "./lake"
    assert s.spark_master == "local[*]"
    assert s.api_url == "https://api.openbrewerydb.org"
    assert not s.is_s3


def test_environment_overrides_and_types():
    s = load_settings(
        env={
            "BREWLAKE_LAKE_ROOT": "s3://bucket/some/prefix",
            "BREWLAKE_API_CONCURRENCY": "7",
            "BREWLAKE_SPARK_UI_ENABLED": "false",
            "AWS_REGION": "eu-west-1",
        }
    )
    assert s.is_s3
    assert s.spark_lake_root == "s3a://bucket/some/prefix"  # s3:// mapped for Spark
    assert s.lake_root == "s3://bucket/some/prefix"  # kept for boto3
    assert (s.s3_bucket, s.s3_prefix) == ("bucket", "some/prefix")
    assert s.api_concurrency == 7
    assert s.spark_ui_enabled is False
    assert s.aws_region == "eu-west-1"


def test_local_toml_layer_sits_between_defaults_and_env(tmp_path):
    (tmp_path / "local.toml").write_text('api_concurrency = 2\nspark_master = "local[1]"\n')
    env = {"BREWLAKE_CONF_DIR": str(tmp_path), "BREWLAKE_SPARK_MASTER": "local[3]"}
    s = load_settings(env=env)
    assert s.api_concurrency == 2
    assert s.spark_master == "local[3]"


def test_s3_endpoint_falls_back_to_the_sdk_variables(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    assert load_settings(env={}).effective_s3_endpoint == "http://127.0.0.1:1"
    s = load_settings(env={"BREWLAKE_S3_ENDPOINT": "http://127.0.0.1:2"})
    assert s.effective_s3_endpoint == "http://127.0.0.1:2"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"BREWLAKE_LAKE_ROOT": "gs://bucket/lake"}, "BREWLAKE_LAKE_ROOT"),
        ({"BREWLAKE_LAKE_ROOT": "s3a:///no-bucket"}, "BREWLAKE_LAKE_ROOT"),
        ({"BREWLAKE_API_URL": "api.openbrewerydb.org"}, "BREWLAKE_API_URL"),
        ({"BREWLAKE_S3_ENDPOINT": "localhost:9000"}, "BREWLAKE_S3_ENDPOINT"),
        ({"BREWLAKE_API_CONCURRENCY": "four"}, "BREWLAKE_API_CONCURRENCY"),
        ({"BREWLAKE_API_PAGE_SIZE": "500"}, "BREWLAKE_API_PAGE_SIZE"),
    ],
)
def test_bad_configuration_names_the_variable(env, names):
    with pytest.raises(ConfigError, match=names):
        load_settings(env=env)


def test_secrets_are_never_in_repr_or_public_dict():
    s = load_settings(env={"AWS_ACCESS_KEY_ID": "AKIAXXXX", "AWS_SECRET_ACCESS_KEY": "sup3rs3cret"})
    assert s.aws_secret_access_key == "sup3rs3cret"
    assert "sup3rs3cret" not in repr(s)
    assert "AKIAXXXX" not in repr(s)
    assert "aws_secret_access_key" not in s.public_dict()


def test_secrets_are_refused_in_conf_files(tmp_path):
    (tmp_path / "local.toml").write_text('aws_secret_access_key = "x"\n')
    with pytest.raises(ConfigError, match="secret"):
        load_settings(env={"BREWLAKE_CONF_DIR": str(tmp_path)})


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
