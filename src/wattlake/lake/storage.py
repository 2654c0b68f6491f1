"""Where the lake lives, and what each engine needs to reach it.

The lake's base URI is a local directory (`/data/wattlake/lake`, `file:///…`) or an S3 prefix
(`s3://bucket/prefix`, also written `s3a://`). One `LakeLocation` gives every engine its own
view of the same tables:

- delta-rs: the table URI (`s3://bucket/prefix/silver/meter_readings`) and `storage_options`;
- DuckDB: the same URI, plus an S3 secret (`CREATE SECRET … TYPE s3`) read by its `httpfs`
  and `delta` extensions;
- Spark: an `s3a://` URI and `spark.hadoop.fs.s3a.*` settings for hadoop-aws.

S3 credentials and the endpoint come from `S3Settings`: explicit values, or `WATTLAKE_S3_*`
(`scripts/s3.sh` prints them for its local server), or the usual `AWS_*` variables. With no
keys at all, each engine falls back to its own AWS credential chain (environment, profile,
instance role).

Pure functions only (no network); `connect_duckdb_to_lake` is the one I/O helper here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import duckdb

from wattlake.duck import load_extension
from wattlake.errors import InputError, WattlakeError

Scheme = Literal["file", "s3"]

# Bucket names: 3–63 characters of lower-case letters, digits, dots and hyphens.
_BUCKET_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789.-")


@dataclass(frozen=True)
class S3Settings:
    """How to reach an S3 API: `endpoint` None means AWS itself (HTTPS, virtual-hosted
    buckets); a custom endpoint (`http://127.0.0.1:9000`) gets path-style addressing."""

    endpoint: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    region: str = "us-east-1"
    session_token: str | None = None

    def __post_init__(self) -> None:
        if self.endpoint is not None:
            parts = urlsplit(self.endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise InputError(
                    f"S3 endpoint '{self.endpoint}' must be a URL like http://127.0.0.1:9000"
                )
            if parts.path not in ("", "/"):
                raise InputError(f"S3 endpoint '{self.endpoint}' must not have a path")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise InputError("S3 credentials need both an access key id and a secret key")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> S3Settings:
        """`WATTLAKE_S3_*`, else the standard `AWS_*` variables (empty values count as unset)."""
        env = os.environ if env is None else env

        def get(*names: str) -> str | None:
            for n in names:
                if env.get(n):
                    return env[n]
            return None

        return cls(
            endpoint=get("WATTLAKE_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
            access_key_id=get("WATTLAKE_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
            secret_access_key=get("WATTLAKE_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
            region=get("WATTLAKE_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION") or "us-east-1",
            session_token=get("WATTLAKE_S3_SESSION_TOKEN", "AWS_SESSION_TOKEN"),
        )

    @property
    def uses_ssl(self) -> bool:
        return self.endpoint is None or self.endpoint.startswith("https://")

    @property
    def host_port(self) -> str | None:
        """`host:port` of a custom endpoint (DuckDB's ENDPOINT takes no scheme)."""
        if self.endpoint is None:
            return None
        return urlsplit(self.endpoint).netloc


@dataclass(frozen=True)
class LakeLocation:
    """The lake's base: a local directory (`root` absolute) or `s3://bucket/prefix`."""

    scheme: Scheme
    root: str  # absolute directory for "file"; "bucket/prefix" (no slashes at the ends) for "s3"
    s3: S3Settings | None = None

    @property
    def bucket(self) -> str | None:
        return self.root.split("/", 1)[0] if self.scheme == "s3" else None

    @property
    def uri(self) -> str:
        """The base URI as delta-rs and DuckDB take it."""
        return f"s3://{self.root}" if self.scheme == "s3" else self.root

    def table_uri(self, *parts: str) -> str:
        """URI of a table (or any object) below the base, for delta-rs and DuckDB."""
        return _join(self.uri, parts)

    def spark_uri(self, *parts: str) -> str:
        """The same place as Spark (Hadoop) names it: `s3a://…` or `file:/…`."""
        base = f"s3a://{self.root}" if self.scheme == "s3" else Path(self.root).as_uri()
        return _join(base, parts)

    def delta_rs_storage_options(self) -> dict[str, str] | None:
        """`storage_options` for `deltalake.DeltaTable`/`write_deltalake` (None: local)."""
        if self.scheme != "s3":
            return None
        return delta_rs_options(self.s3 or S3Settings())

    def duckdb_setup_sql(self, name: str = "wattlake_lake") -> list[str]:
        """Statements that let a DuckDB connection (with httpfs loaded) read the lake."""
        if self.scheme != "s3":
            return []
        return [duckdb_secret_sql(self.s3 or S3Settings(), scope=f"s3://{self.bucket}", name=name)]

    def spark_conf(self) -> dict[str, str]:
        """`spark.hadoop.fs.s3a.*` settings for this lake ({} for a local one)."""
        if self.scheme != "s3":
            return {}
        return spark_s3a_conf(self.s3 or S3Settings())


def _join(base: str, parts: tuple[str, ...]) -> str:
    cleaned = [p.strip("/") for p in parts if p.strip("/")]
    return "/".join([base.rstrip("/"), *cleaned]) if cleaned else base


def parse_lake_uri(uri: str | Path, s3: S3Settings | None = None) -> LakeLocation:
    """The `LakeLocation` of a base URI: a path (relative ones are made absolute),
    `file://`, `s3://bucket[/prefix]` or `s3a://bucket[/prefix]`. Raises `InputError` for
    other schemes and malformed S3 URIs."""
    text = str(uri).strip()
    if not text:
        raise InputError("lake URI is empty")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("", "file"):
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise InputError(f"lake URI '{text}': file:// URIs must be local")
            text = parts.path
        return LakeLocation("file", str(Path(text).expanduser().resolve()))
    if scheme not in ("s3", "s3a"):
        raise InputError(f"lake URI '{text}': unsupported scheme '{scheme}' (use a path or s3://)")
    bucket = parts.netloc
    if not bucket:
        raise InputError(f"lake URI '{text}' names no bucket (s3://BUCKET/prefix)")
    if not (3 <= len(bucket) <= 63) or not set(bucket) <= _BUCKET_CHARS or bucket[0] in ".-":
        raise InputError(f"lake URI '{text}': '{bucket}' is not a valid S3 bucket name")
    if parts.query or parts.fragment:
        raise InputError(f"lake URI '{text}' must not have a query or fragment")
    prefix = "/".join(p for p in parts.path.split("/") if p)
    if any(p in (".", "..") for p in prefix.split("/")):
        raise InputError(f"lake URI '{text}': '.' and '..' are not allowed in an S3 prefix")
    root = f"{bucket}/{prefix}" if prefix else bucket
    return LakeLocation("s3", root, s3 if s3 is not None else S3Settings.from_env())


def delta_rs_options(s3: S3Settings) -> dict[str, str]:
    """delta-rs (object_store) options for `s3`. delta-rs 1.x commits with conditional
    puts (`If-None-Match`), so concurrent delta-rs writers cannot overwrite each other's
    log entries on a server that honours them (AWS S3 and moto do)."""
    opts = {"aws_region": s3.region}
    if s3.endpoint is not None:
        opts["aws_endpoint_url"] = s3.endpoint
        opts["aws_virtual_hosted_style_request"] = "false"
        if not s3.uses_ssl:
            opts["aws_allow_http"] = "true"
    if s3.access_key_id is not None and s3.secret_access_key is not None:
        opts["aws_access_key_id"] = s3.access_key_id
        opts["aws_secret_access_key"] = s3.secret_access_key
    if s3.session_token is not None:
        opts["aws_session_token"] = s3.session_token
    return opts


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_secret_sql(s3: S3Settings, *, scope: str, name: str = "wattlake_lake") -> str:
    """`CREATE OR REPLACE SECRET` for DuckDB's httpfs/delta on `scope` (`s3://bucket`).
    Without keys the secret uses the AWS credential chain (needs the `aws` extension)."""
    if not name.isidentifier():
        raise WattlakeError(f"DuckDB secret name '{name}' is not an identifier")
    items = ["TYPE s3", f"REGION {_sql_str(s3.region)}", f"SCOPE {_sql_str(scope)}"]
    if s3.access_key_id is not None and s3.secret_access_key is not None:
        items[1:1] = [
            "PROVIDER config",
            f"KEY_ID {_sql_str(s3.access_key_id)}",
            f"SECRET {_sql_str(s3.secret_access_key)}",
        ]
        if s3.session_token is not None:
            items.append(f"SESSION_TOKEN {_sql_str(s3.session_token)}")
    else:
        items.insert(1, "PROVIDER credential_chain")
    if s3.endpoint is not None:
        items += [f"ENDPOINT {_sql_str(s3.host_port or '')}", "URL_STYLE 'path'"]
        items.append(f"USE_SSL {'true' if s3.uses_ssl else 'false'}")
    return f"CREATE OR REPLACE SECRET {name} ({', '.join(items)})"


def spark_s3a_conf(s3: S3Settings) -> dict[str, str]:
    """hadoop-aws (S3A) settings as Spark conf keys (`spark.hadoop.fs.s3a.*`)."""
    p = "spark.hadoop.fs.s3a."
    conf = {p + "endpoint.region": s3.region}
    if s3.endpoint is not None:
        conf[p + "endpoint"] = s3.endpoint
        conf[p + "path.style.access"] = "true"
        conf[p + "connection.ssl.enabled"] = "true" if s3.uses_ssl else "false"
    if s3.access_key_id is not None and s3.secret_access_key is not None:
        conf[p + "access.key"] = s3.access_key_id
        conf[p + "secret.key"] = s3.secret_access_key
        if s3.session_token is not None:
            conf[p + "session.token"] = s3.session_token
            conf[p + "aws.credentials.provider"] = (
                "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
            )
        else:
            conf[p + "aws.credentials.provider"] = (
                "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
            )
    return conf


def connect_duckdb_to_lake(con: duckdb.DuckDBPyConnection, lake: LakeLocation) -> None:
    """Load what a DuckDB connection needs to read and write `lake`: httpfs (+ aws for the
    credential chain) from their wheels (`wattlake.duck`) and the S3 secret. Nothing for a
    local lake."""
    if lake.scheme != "s3":
        return
    s3 = lake.s3 or S3Settings()
    load_extension(con, "httpfs")
    if s3.access_key_id is None:
        load_extension(con, "aws")
    for stmt in lake.duckdb_setup_sql():
        con.execute(stmt)
