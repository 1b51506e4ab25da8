"""The analyst's prompts fit the database at hand, and a retry gets the facts
that fix its error."""

from __future__ import annotations

from switchboard.workers.analyst import prompts
from switchboard.workers.analyst.chinook import TABLES, Table

PASCAL = (  # the public Chinook SQLite's own names
    Table("Artist", "Artist", (("ArtistId", "INTEGER", ""), ("Name", "NVARCHAR(120)", "")), "Artist"),
    Table(
        "Album",
        "Album",
        (("AlbumId", "INTEGER", ""), ("Title", "NVARCHAR(160)", ""), ("ArtistId", "INTEGER", "")),
        "ArtistId -> Artist",
    ),
)


def test_a_database_of_yours_gets_examples_in_its_own_names() -> None:
    shown = " ".join(m["content"] for m in prompts.examples("sql", PASCAL))
    assert '"Album"' in shown and '"ArtistId"' in shown and 'p."Name"' in shown
    assert "album_id" not in shown and "genre" not in shown  # nothing of the built-in store
    assert prompts.examples("sql", TABLES) == prompts.EXAMPLES["sql"]  # the store keeps its own
    assert prompts.ident("track") == "track" and prompts.ident("Track") == '"Track"'


def test_a_retry_is_told_the_real_names() -> None:
    code = "SELECT a.name, count(*) FROM artist a JOIN track t ON t.artist_id = a.artist_id GROUP BY 1"
    duck = 'Binder Error: Table "t" does not have a column named "artist_id"'
    hints = prompts.fix_hints(duck, code, TABLES)
    assert "Columns of track: track_id, name, album_id" in hints
    assert "There is no table t" not in hints  # an alias, not a missing table
    assert "track has no column artist_id; artist_id is a column of artist, album" in hints
    missing = prompts.fix_hints(
        "Catalog Error: Table with name tracks does not exist!", "SELECT * FROM tracks", TABLES
    )
    assert "There is no table tracks; the nearest are: track" in missing
    sqlite = prompts.fix_hints("no such column: c.customer_id", "SELECT c.customer_id FROM Artist c", PASCAL)
    assert "Columns of Artist: ArtistId, Name" in sqlite
    assert "Artist has no column customer_id" in sqlite  # the alias c, resolved
    postgres = prompts.fix_hints('column "artistid" does not exist', "SELECT artistid FROM album", TABLES)
    assert "There is no column artistid; the nearest are: artist_id" in postgres
    chat = prompts.messages("q?", "sql", "DuckDB", "schema", code, duck, TABLES)
    assert "Columns of track" in chat[-1]["content"] and duck in chat[-1]["content"]


def test_a_duplicate_alias_is_named() -> None:
    error = 'Binder Error: Ambiguous reference to table "a" (duplicate alias "a", explicitly alias one)'
    code = "SELECT a.title FROM album a JOIN artist a ON a.artist_id = a.artist_id"
    assert "its own alias" in prompts.fix_hints(error, code, TABLES)


def test_the_prompt_names_the_dialects_date_functions_and_column_notes() -> None:
    table = Table(
        "sale",
        "sale",
        (("Day", "DATE", ""), ("Qty", "INTEGER", "")),
        "sales",
        comments=(("Qty", "units sold"),),
    )
    schema = prompts.schema_text([table])
    assert "Qty integer (units sold)" in schema
    for dialect, fn in (
        ("SQLite", "strftime('%Y', d)"),
        ("PostgreSQL", "extract(year from d)"),
        ("DuckDB", "year(d)"),
    ):
        system = prompts.messages("q", "sql", dialect, schema, tables=[table])[0]["content"]
        assert fn in system


def test_a_key_used_on_the_wrong_side_gets_the_join() -> None:
    error = 'Binder Error: Table "e" does not have a column named "support_rep_id"'
    code = (
        "SELECT e.last_name, count(*) FROM employee e JOIN customer c ON e.support_rep_id = c.support_rep_id"
    )
    hints = prompts.fix_hints(error, code, TABLES)
    assert "customer.support_rep_id refers to employee.employee_id" in hints
    assert "JOIN ON customer.support_rep_id = employee.employee_id" in hints


def test_nested_aggregates_get_the_subquery_shape() -> None:
    error = "Binder Error: aggregate function calls cannot be nested"
    assert "in a subquery first" in prompts.fix_hints(error, "SELECT avg(count(*)) FROM invoice_line", TABLES)


def test_an_error_is_told_by_its_headline_not_the_sql_it_points_into() -> None:
    duckdb = (
        'Binder Error: Table "e" does not have a column named "support_rep_id"\n\n'
        'Candidate bindings: : "employee_id"\n\n'
        "LINE 1: ...FROM employee e JOIN customer c ON e.support_rep_id = c.support_rep_id\n"
        "                                                  ^"
    )
    assert (
        prompts.last_lines(duckdb, 1)
        == 'Binder Error: Table "e" does not have a column named "support_rep_id"'
    )
    assert "LINE 1" not in prompts.last_lines(duckdb) and "^" not in prompts.last_lines(duckdb)
    assert "does not have a column" in prompts.last_lines(duckdb)
    traceback = (
        'Traceback (most recent call last):\n  File "<code>", line 1, in <module>\n'
        'duckdb.duckdb.BinderException: Binder Error: Referenced column "quarter_length" not found\n\n'
        "LINE 1: SELECT t.quarter_length FROM track t\n               ^"
    )
    assert prompts.last_lines(traceback, 1).startswith("duckdb.duckdb.BinderException: Binder Error")
    assert prompts.last_lines("KeyError: 'n'", 1) == "KeyError: 'n'"
    assert prompts.last_lines("", 1) == ""
    # a retry asked afresh is told the headline
    msgs = prompts.messages("q?", "sql", "DuckDB", "t(x integer)", "SELECT y FROM t", duckdb, fresh=True)
    assert "failed with: Binder Error" in msgs[-1]["content"]


def test_a_column_left_out_of_group_by_is_named() -> None:
    error = 'Binder Error: column "title" must appear in the GROUP BY clause or must be part of an aggregate function.'
    code = (
        "SELECT a.title FROM album a JOIN track t ON a.album_id = t.album_id ORDER BY count(*) DESC LIMIT 1"
    )
    assert "GROUP BY title" in prompts.fix_hints(error, code, TABLES)
    pg = 'column "a.title" must appear in the GROUP BY clause or be used in an aggregate function'
    assert "GROUP BY a.title" in prompts.fix_hints(pg, code, TABLES)
