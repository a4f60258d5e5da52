"""Provision Metabase for the payments platform, through its REST API (standard library only).

1. wait for GET /api/health;
2. if nobody has set Metabase up: POST /api/setup with the setup token and the admin account;
3. POST /api/session as the admin;
4. add the payments PostgreSQL database (POST /api/database), unless one with that name exists;
5. create the questions (POST /api/card, native SQL), reusing cards with the same name;
6. create the dashboard (POST /api/dashboard) and place the cards (PUT /api/dashboard/:id with
   `dashcards`; new dashcards have negative ids). A dashboard with the same name is left alone,
   so the Job is idempotent and safe on every upgrade.

Environment: MB_URL, MB_ADMIN_EMAIL, MB_ADMIN_PASSWORD, PAYMENTS_DATABASE_URL, DASHBOARD_NAME,
MB_DATABASE_NAME, WAIT_SECONDS.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

MB_URL = os.environ["MB_URL"].rstrip("/")
EMAIL = os.environ["MB_ADMIN_EMAIL"]
PASSWORD = os.environ["MB_ADMIN_PASSWORD"]
DASHBOARD = os.environ.get("DASHBOARD_NAME", "Overview")
DB_NAME = os.environ.get("MB_DATABASE_NAME", "Payments")
WAIT = int(os.environ.get("WAIT_SECONDS", "900"))

CARDS = [
    ("Transactions per day", "line",
     "SELECT date_trunc('day', transaction_date)::date AS day, count(*) AS transactions\n"
     "FROM transactions GROUP BY 1 ORDER BY 1"),
    ("Amount by currency", "bar",
     "SELECT c.currency, sum(t.amount) AS amount\n"
     "FROM transactions t JOIN currencies c USING (currency_id)\nGROUP BY 1 ORDER BY 2 DESC"),
    ("Status split", "pie",
     "SELECT status, count(*) AS transactions FROM transactions GROUP BY 1 ORDER BY 2 DESC"),
    ("Suspicious transactions", "scalar",
     "SELECT count(*) AS suspicious FROM transactions WHERE suspicious"),
    ("Rejected events by reason", "row",
     "SELECT split_part(reason, ':', 1) AS reason, count(*) AS rejected\n"
     "FROM rejected_events GROUP BY 1 ORDER BY 2 DESC LIMIT 20"),
    ("Recent imports", "table",
     "SELECT created_at, file_name, status, rows, unique_rows, duplicates, suspicious, published\n"
     "FROM imports ORDER BY created_at DESC LIMIT 50"),
]


# Taken out of anything printed: a server may quote a request (with a password in it) back.
SECRETS = [secret for secret in (
    PASSWORD,
    urllib.parse.unquote(urllib.parse.urlsplit(os.environ.get("PAYMENTS_DATABASE_URL", "")).password or ""),
) if secret]


def redact(text):
    for secret in SECRETS:
        text = text.replace(secret, "[redacted]")
    return text


def log(message):
    print(f"provision-metabase: {redact(str(message))}", flush=True)


def call(method, path, body=None, session=None, ok=(200, 202, 204)):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(MB_URL + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if session:
        request.add_header("X-Metabase-Session", session)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        status = error.code
    if status not in ok:
        raise RuntimeError(f"{method} {path}: HTTP {status}: {redact(text)[:500]}")
    return json.loads(text) if text.strip() else None


def items(result):
    """List endpoints answer either a list or {"data": [...]} depending on the version."""
    if isinstance(result, dict):
        return result.get("data", [])
    return result or []


def wait_for_metabase():
    deadline = time.time() + WAIT
    while True:
        try:
            if (call("GET", "/api/health") or {}).get("status") == "ok":
                return
        except Exception as error:  # noqa: BLE001 - any failure means "not yet"
            log(f"waiting for {MB_URL}: {error}")
        if time.time() > deadline:
            sys.exit(f"Metabase did not become healthy in {WAIT}s")
        time.sleep(5)


def database_details():
    url = urllib.parse.urlsplit(os.environ["PAYMENTS_DATABASE_URL"])
    return {
        "host": url.hostname,
        "port": url.port or 5432,
        "dbname": url.path.lstrip("/"),
        "user": urllib.parse.unquote(url.username or ""),
        "password": urllib.parse.unquote(url.password or ""),
        "ssl": "sslmode=require" in (url.query or ""),
    }


def search(session, model, name):
    query = urllib.parse.urlencode({"q": name, "models": model})
    for item in items(call("GET", f"/api/search?{query}", session=session)):
        if item.get("model") == model and item.get("name") == name and not item.get("archived"):
            return item["id"]
    return None


def main():
    wait_for_metabase()
    properties = call("GET", "/api/session/properties")
    if not properties.get("has-user-setup") and properties.get("setup-token"):
        log("setting Metabase up (admin account)")
        call("POST", "/api/setup", {
            "token": properties["setup-token"],
            "user": {"email": EMAIL, "password": PASSWORD, "first_name": "Payments",
                     "last_name": "Admin", "site_name": "Payments"},
            "prefs": {"site_name": "Payments", "site_locale": "en", "allow_tracking": False},
        })
    session = call("POST", "/api/session", {"username": EMAIL, "password": PASSWORD})["id"]

    if search(session, "dashboard", DASHBOARD):
        log(f"dashboard {DASHBOARD!r} exists; nothing to do")
        return

    database_id = next((d["id"] for d in items(call("GET", "/api/database", session=session))
                        if d.get("name") == DB_NAME), None)
    if database_id is None:
        log(f"adding database {DB_NAME!r}")
        database_id = call("POST", "/api/database", {
            "engine": "postgres", "name": DB_NAME, "details": database_details(),
            "is_full_sync": True,
        }, session=session)["id"]

    card_ids = []
    for name, display, sql in CARDS:
        card_id = search(session, "card", name)
        if card_id is None:
            card_id = call("POST", "/api/card", {
                "name": name, "display": display, "visualization_settings": {},
                "dataset_query": {"type": "native", "database": database_id,
                                  "native": {"query": sql, "template-tags": {}}},
            }, session=session)["id"]
            log(f"created card {name!r} ({card_id})")
        card_ids.append(card_id)

    dashboard_id = call("POST", "/api/dashboard", {
        "name": DASHBOARD,
        "description": "Payments platform overview (provisioned by the Helm chart)",
    }, session=session)["id"]
    # A 24-column grid: two cards per row, 12 wide and 6 high.
    dashcards = [{"id": -(i + 1), "card_id": card_id, "row": (i // 2) * 6, "col": (i % 2) * 12,
                  "size_x": 12, "size_y": 6, "parameter_mappings": [],
                  "visualization_settings": {}, "series": []}
                 for i, card_id in enumerate(card_ids)]
    call("PUT", f"/api/dashboard/{dashboard_id}", {"dashcards": dashcards}, session=session)
    log(f"dashboard {DASHBOARD!r} ({dashboard_id}) with {len(dashcards)} cards")


if __name__ == "__main__":
    main()
