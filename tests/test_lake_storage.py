"""Lake base URIs and what each engine is told to reach them (pure; no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattlake.errors import InputError
from wattlake.lake.storage import (
    S3Settings,
    delta_rs_options,
    duckdb_secret_sql,
    parse_lake_uri,
    spark_s3a_conf,
)

LOCAL_S3 = S3Settings(
    endpoint="http://127.0.0.1:9000", access_key_id="k", secret_access_key="s", region="eu-west-1"
)


@pytest.mark.parametrize(
    ("uri", "root"),
    [
        pytest.param("s3://b-1/lake", "b-1/lake", id="s3_prefix"),
        pytest.param("s3://bkt", "bkt", id="s3_bucket_only"),
        pytest.param("s3a://bkt/a//b/", "bkt/a/b", id="s3a_slashes_normalised"),
        pytest.param("s3://my.bucket/p", "my.bucket/p", id="dotted_bucket"),
    ],
)
def test_s3_uris(uri: str, root: str) -> None:
    lake = parse_lake_uri(uri, LOCAL_S3)
    assert (lake.scheme, lake.root, lake.bucket) == ("s3", root, root.split("/")[0])
    assert lake.uri == f"s3://{root}"
    assert lake.table_uri("silver", "x") == f"s3://{root}/silver/x"
    assert lake.spark_uri("/silver/", "x") == f"s3a://{root}/silver/x"
    assert lake.table_uri() == f"s3://{root}"


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("{tmp}/lake", id="absolute_path"),
        pytest.param("file://{tmp}/lake", id="file_uri"),
        pytest.param("{tmp}/./lake/", id="dot_and_trailing_slash"),
    ],
)
def test_local_uris(given: str, tmp_path: Path) -> None:
    lake = parse_lake_uri(given.format(tmp=tmp_path))
    assert lake.scheme == "file"
    assert lake.root == str(tmp_path / "lake")
    assert lake.table_uri("silver", "x") == str(tmp_path / "lake" / "silver" / "x")
    assert lake.spark_uri("silver", "x") == (tmp_path / "lake" / "silver" / "x").as_uri()
    assert lake.delta_rs_storage_options() is None
    assert lake.duckdb_setup_sql() == []
    assert lake.spark_conf() == {}


def test_relative_path_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_lake_uri("data/lake").root == str(tmp_path / "data" / "lake")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("s3://", "names no bucket", id="no_bucket"),
        pytest.param("s3:///prefix", "names no bucket", id="empty_bucket"),
        pytest.param("s3://ab/p", "not a valid S3 bucket", id="bucket_too_short"),
        pytest.param("s3://Upper/p", "not a valid S3 bucket", id="bucket_upper_case"),
        pytest.param("s3://-bkt/p", "not a valid S3 bucket", id="bucket_leading_hyphen"),
        pytest.param("s3://bkt/a/../b", "not allowed", id="dotdot_in_prefix"),
        pytest.param("s3://bkt/p?x=1", "query", id="query"),
        pytest.param("gs://bkt/p", "unsupported scheme 'gs'", id="other_scheme"),
        pytest.param("file://host/p", "must be local", id="remote_file_uri"),
    ],
)
def test_bad_uris(uri: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_lake_uri(uri, LOCAL_S3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"endpoint": "127.0.0.1:9000"}, "must be a URL", id="endpoint_without_scheme"),
        pytest.param({"endpoint": "http://h:1/path"}, "must not have a path", id="endpoint_path"),
        pytest.param({"access_key_id": "k"}, "both", id="key_without_secret"),
        pytest.param({"secret_access_key": "s"}, "both", id="secret_without_key"),
    ],
)
def test_bad_s3_settings(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        S3Settings(**kwargs)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {"WATTLAKE_S3_ENDPOINT": "http://127.0.0.1:1", "WATTLAKE_S3_ACCESS_KEY_ID": "a",
             "WATTLAKE_S3_SECRET_ACCESS_KEY": "b", "AWS_ACCESS_KEY_ID": "ignored",
             "AWS_SECRET_ACCESS_KEY": "ignored"},
            S3Settings("http://127.0.0.1:1", "a", "b"),
            id="wattlake_vars_win",
        ),
        pytest.param(
            {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_REGION": "eu-central-1",
             "AWS_SESSION_TOKEN": "t"},
            S3Settings(None, "a", "b", "eu-central-1", "t"),
            id="aws_vars",
        ),
        pytest.param({"WATTLAKE_S3_ENDPOINT": ""}, S3Settings(), id="empty_is_unset"),
        pytest.param({}, S3Settings(), id="nothing_set_credential_chain"),
    ],
)  # fmt: skip
def test_s3_settings_from_env(env: dict[str, str], expected: S3Settings) -> None:
    assert S3Settings.from_env(env) == expected


def test_engine_options_for_a_local_http_endpoint() -> None:
    assert delta_rs_options(LOCAL_S3) == {
        "aws_region": "eu-west-1",
        "aws_endpoint_url": "http://127.0.0.1:9000",
        "aws_virtual_hosted_style_request": "false",
        "aws_allow_http": "true",
        "aws_access_key_id": "k",
        "aws_secret_access_key": "s",
    }
    assert duckdb_secret_sql(LOCAL_S3, scope="s3://b") == (
        "CREATE OR REPLACE SECRET wattlake_lake (TYPE s3, PROVIDER config, KEY_ID 'k', "
        "SECRET 's', REGION 'eu-west-1', SCOPE 's3://b', ENDPOINT '127.0.0.1:9000', "
        "URL_STYLE 'path', USE_SSL false)"
    )
    assert spark_s3a_conf(LOCAL_S3) == {
        "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9000",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.access.key": "k",
        "spark.hadoop.fs.s3a.secret.key": "s",
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        ),
    }


def test_engine_options_for_aws_with_the_credential_chain() -> None:
    aws = S3Settings(region="eu-central-1")
    assert delta_rs_options(aws) == {"aws_region": "eu-central-1"}
    assert duckdb_secret_sql(aws, scope="s3://b", name="s") == (
        "CREATE OR REPLACE SECRET s (TYPE s3, PROVIDER credential_chain, "
        "REGION 'eu-central-1', SCOPE 's3://b')"
    )
    assert spark_s3a_conf(aws) == {"spark.hadoop.fs.s3a.endpoint.region": "eu-central-1"}


def test_session_token_and_https_endpoint() -> None:
    s3 = S3Settings("https://s3.example:443", "k", "s", session_token="t")
    assert "aws_allow_http" not in delta_rs_options(s3)
    assert delta_rs_options(s3)["aws_session_token"] == "t"
    sql = duckdb_secret_sql(s3, scope="s3://b")
    assert "SESSION_TOKEN 't'" in sql and "USE_SSL true" in sql
    conf = spark_s3a_conf(s3)
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "true"
    assert conf["spark.hadoop.fs.s3a.aws.credentials.provider"].endswith(
        "TemporaryAWSCredentialsProvider"
    )


def test_quotes_in_secrets_are_escaped() -> None:
    s3 = S3Settings("http://127.0.0.1:1", "k'ey", "se'cret")
    sql = duckdb_secret_sql(s3, scope="s3://b")
    assert "KEY_ID 'k''ey'" in sql and "SECRET 'se''cret'" in sql


def test_secret_name_must_be_an_identifier() -> None:
    with pytest.raises(Exception, match="not an identifier"):
        duckdb_secret_sql(LOCAL_S3, scope="s3://b", name="x; DROP")
