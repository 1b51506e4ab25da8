"""Generated SQL: one read-only query over the dataset's tables, or a clear refusal."""

from __future__ import annotations

import pytest

from switchboard.workers.analyst.chinook import TABLES
from switchboard.workers.analyst.sqlguard import SQLRefused, check

TABLE_NAMES = {t.name for t in TABLES}


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT name FROM artist",
        "select g.name, sum(il.unit_price * il.quantity) from invoice_line il "
        "join track t on t.track_id = il.track_id join genre g on g.genre_id = t.genre_id group by 1",
        "WITH a AS (SELECT * FROM album) SELECT count(*) FROM a JOIN artist USING (artist_id);",
        "SELECT * FROM range(10)",
        "SELECT name FROM artist UNION SELECT name FROM genre",
        # logical operators and predicates are not functions (some sqlglot versions model them as such)
        "SELECT count(*) FROM invoice WHERE total > 1 AND (total < 5 OR billing_country = 'USA')",
        "SELECT count(*) FROM invoice WHERE NOT total > 1 AND invoice_date >= '2009-01-01'",
        "SELECT name FROM artist a WHERE EXISTS (SELECT 1 FROM album al WHERE al.artist_id = a.artist_id)",
        "SELECT power(2, 3), corr(milliseconds, bytes), regexp_matches(name, 'a') FROM track GROUP BY name",
    ],
)
def test_read_only_queries_pass_with_a_row_limit(sql: str) -> None:
    checked = check(sql, tables=TABLE_NAMES, limit=50)
    assert checked.sql.endswith("LIMIT 51")


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DELETE FROM artist", "only SELECT"),
        ("UPDATE track SET unit_price = 0", "only SELECT"),
        ("DROP TABLE artist", "only SELECT"),
        ("CREATE TABLE x AS SELECT 1", "only SELECT"),
        ("SELECT 1; DROP TABLE artist", "exactly one statement"),
        ("SELECT name FROM artist WHERE name = ''; DELETE FROM artist; --'", "exactly one statement"),
        ("WITH d AS (DELETE FROM artist RETURNING *) SELECT * FROM d", "DELETE is not allowed"),
        ("SELECT * INTO stolen FROM customer", "INTO is not allowed"),
        ("COPY customer TO '/tmp/customers.csv'", "only SELECT"),
        ("ATTACH '/tmp/other.db'", "only SELECT"),
        ("INSTALL httpfs", "only SELECT"),
        ("SET enable_external_access = true", "only SELECT"),
        ("PRAGMA database_list", "only SELECT"),
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
        ("SELECT read_text('/etc/passwd')", "read_text"),
        ("SELECT * FROM '/etc/passwd'", "file reference"),
        ("SELECT pg_sleep(100)", "pg_sleep"),
        ("SELECT getenv('HOME')", "getenv"),
        ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
        ("SELECT * FROM information_schema.tables", "schema 'information_schema'"),
        ("SELECT * FROM pg_catalog.pg_user", "schema 'pg_catalog'"),
        ("SELECT * FROM secrets", "unknown table 'secrets'"),
        ("SELEC name FROM artist", "does not parse"),
        ("", "empty"),
    ],
)
def test_writes_files_and_tricks_are_refused(sql: str, reason: str) -> None:
    with pytest.raises(SQLRefused) as refused:
        check(sql, tables=TABLE_NAMES)
    assert reason in str(refused.value)
