"""The rows one import landed, as the lakehouse's `transactions` table holds them (deltalake).

    import_rows.py s3://bucket/prefix IMPORT_ID

S3 settings as per_currency.py reads them. Prints one JSON object:
{"rows": n, "sum": "12.50", "ids_md5": "<md5 of the sorted transaction ids, comma-joined>"},
the same figures `SELECT count(*), sum(amount), md5(string_agg(transaction_id::text, ','
ORDER BY transaction_id))` gives in PostgreSQL.
"""

import hashlib
import json
import os
import sys
from decimal import Decimal

from per_currency import storage_options


def main():
    root, import_id = sys.argv[1].rstrip("/"), sys.argv[2]
    from deltalake import DeltaTable

    table = DeltaTable(f"{root}/transactions", storage_options=storage_options())
    data = table.to_pyarrow_table(columns=["import_id", "transaction_id", "amount"])
    ids, total = [], Decimal("0.00")
    for owner, transaction_id, amount in zip(
        data["import_id"].to_pylist(), data["transaction_id"].to_pylist(), data["amount"].to_pylist()
    ):
        if owner == import_id:
            ids.append(transaction_id)
            total += amount
    # Lower-case UUID text sorts as PostgreSQL sorts the uuids themselves (byte order).
    digest = hashlib.md5(",".join(sorted(ids)).encode()).hexdigest()
    print(json.dumps({"rows": len(ids), "sum": str(total), "ids_md5": digest}), flush=True)
    os._exit(0)  # as per_currency.py: no destructors after a correct read (delta-io/delta-rs#2184)


if __name__ == "__main__":
    main()
