"""Per-currency payment counts and sums read from the lakehouse by an engine of our choosing.

    per_currency.py duckdb|deltalake s3://bucket/prefix

S3 settings come from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
Prints one JSON object: {"<currency_id>": {"count": n, "sum": "12.50"}, ...}, sums exact.
"""

import glob
import json
import os
import sys
from decimal import Decimal
from urllib.parse import urlparse


def with_duckdb(root):
    import duckdb
    import duckdb_extension_delta
    import duckdb_extension_httpfs

    con = duckdb.connect(config={"autoinstall_known_extensions": "false"})
    # The extensions are files of their packages: loaded by path, never downloaded.
    for package in (duckdb_extension_httpfs, duckdb_extension_delta):
        folder = os.path.join(os.path.dirname(package.__file__), "extensions")
        (path,) = glob.glob(os.path.join(folder, "*", "*.duckdb_extension"))
        con.sql(f"LOAD '{path}'")
    endpoint = urlparse(os.environ["AWS_ENDPOINT_URL"])
    con.execute(
        """CREATE SECRET lake (TYPE s3, PROVIDER config, KEY_ID ?, SECRET ?, REGION ?,
                               ENDPOINT ?, URL_STYLE 'path', USE_SSL ?)""",
        [
            os.environ["AWS_ACCESS_KEY_ID"],
            os.environ["AWS_SECRET_ACCESS_KEY"],
            os.environ.get("AWS_REGION", "us-east-1"),
            endpoint.netloc,
            endpoint.scheme == "https",
        ],
    )
    rows = con.execute(
        f"""SELECT currency_id, count(*), sum(amount)::VARCHAR
              FROM delta_scan('{root}/transactions') GROUP BY currency_id"""
    ).fetchall()
    return {str(c): {"count": n, "sum": str(Decimal(s))} for c, n, s in rows}


def storage_options():
    """The `deltalake` package's S3 options from the AWS_* environment."""
    return {
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        "AWS_ALLOW_HTTP": "true",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
    }


def with_deltalake(root):
    from deltalake import DeltaTable

    table = DeltaTable(f"{root}/transactions", storage_options=storage_options())
    data = table.to_pyarrow_table(columns=["currency_id", "amount"])
    totals = {}
    for currency, amount in zip(data["currency_id"].to_pylist(), data["amount"].to_pylist()):
        entry = totals.setdefault(str(currency), {"count": 0, "sum": Decimal("0.00")})
        entry["count"] += 1
        entry["sum"] += amount  # pyarrow gives decimal128 as Decimal: exact
    return {c: {"count": e["count"], "sum": str(e["sum"])} for c, e in totals.items()}


def main():
    engine, root = sys.argv[1], sys.argv[2].rstrip("/")
    read = {"duckdb": with_duckdb, "deltalake": with_deltalake}[engine]
    print(json.dumps(read(root), sort_keys=True), flush=True)
    # The answer is out: leave without running destructors. deltalake's Rust runtime and
    # pyarrow's threads can abort the interpreter's shutdown ("terminate called without an
    # active exception", delta-io/delta-rs#2184, pola-rs/polars#24169) after a correct read.
    os._exit(0)


if __name__ == "__main__":
    main()
