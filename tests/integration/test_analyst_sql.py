"""Chinook in DuckDB and PostgreSQL, queried through the guard, limits and the SQL worker."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from switchboard.schemas import Code, Result
from switchboard.workers.analyst import datasets, sql, sqlexec
from switchboard.workers.analyst.chinook import TABLES
from switchboard.workers.analyst.sqlguard import SQLRefused, check
from tests.memory_chain import on_memory

TABLE_NAMES = {t.name for t in TABLES}
EXPECTED = {
    "artist": 275,
    "album": 347,
    "track": 3503,
    "genre": 25,
    "customer": 59,
    "invoice": 412,
    "invoice_line": 2240,
    "playlist_track": 8715,
    "employee": 8,
    "media_type": 5,
    "playlist": 18,
    "score": 15026,
}
REVENUE_BY_GENRE = (
    "select g.name as genre, round(sum(il.unit_price * il.quantity), 2) as revenue "
    "from invoice_line il join track t on t.track_id = il.track_id "
    "join genre g on g.genre_id = t.genre_id group by 1 order by 2 desc limit 3"
)


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "analyst.duckdb"
    assert datasets.load_duckdb(path) == EXPECTED
    return path


ADMIN_URL = os.environ.get("SWITCHBOARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/test")


@pytest.fixture(scope="module")
def pg() -> Iterator[tuple[str, str]]:
    """(the read-only role's URL, the schema), as `analyst load --postgres` leaves them."""
    tag = uuid.uuid4().hex[:8]
    schema, role = f"chinook_{tag}", f"reader_{tag}"
    assert datasets.load_postgres(ADMIN_URL, schema) == EXPECTED
    reader = datasets.create_reader(ADMIN_URL, schema, role)
    yield reader, schema
    engine = create_engine(ADMIN_URL)
    with engine.begin() as con:
        con.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        con.execute(text(f'DROP OWNED BY "{role}"'))
        con.execute(text(f'DROP ROLE "{role}"'))
    engine.dispose()


def test_duckdb_answers_and_limits(duck: Path) -> None:
    res = sqlexec.run_duckdb(duck, check(REVENUE_BY_GENRE, tables=TABLE_NAMES), 10)
    assert res.columns == ["genre", "revenue"]
    assert res.rows == [["Rock", 826.65], ["Latin", 382.14], ["Metal", 261.36]]
    limited = sqlexec.run_duckdb(duck, check("select * from track", tables=TABLE_NAMES, limit=100), 10)
    assert len(limited.rows) == 100 and limited.truncated


def test_duckdb_stops_a_runaway_query(duck: Path) -> None:
    start = time.monotonic()
    with pytest.raises(sqlexec.SQLTimeout):
        sqlexec.run_duckdb(duck, check("select count(*) from range(1000000000000)", tables=TABLE_NAMES), 1.0)
    assert time.monotonic() - start < 10


def _unguarded(sql_text: str) -> object:
    """SQL as if it had slipped past the guard: the connection's limits must hold alone."""
    raw = check("select 1", tables=TABLE_NAMES)
    return type(raw)(sql=sql_text, original=sql_text, tables=raw.tables, limit=raw.limit)


async def test_a_query_no_interrupt_reaches_is_killed(duck: Path) -> None:
    # the connection's own timer would wait 100 s; the watchdog kills the process at 1 + grace
    start = time.monotonic()
    with pytest.raises(sqlexec.SQLTimeout):
        await sqlexec.run_isolated(
            "duckdb",
            duck,
            check("select count(*) from range(1000000000000)", tables=TABLE_NAMES),
            100,
            timeout_s=1.0,
        )
    assert time.monotonic() - start < 60
    res = await sqlexec.run_isolated(
        "duckdb", duck, check("select count(*) from artist", tables=TABLE_NAMES), 10, timeout_s=10
    )
    assert res.rows == [[275]]


@pytest.mark.parametrize(
    "bad",
    [
        "select len(range(300000000))",
        "select repeat('x', 1000000000)",
    ],
)
async def test_duckdb_memory_is_capped(duck: Path, bad: str) -> None:
    with pytest.raises((sqlexec.SQLLimit, sqlexec.SQLTimeout)):
        await sqlexec.run_isolated("duckdb", duck, _unguarded(bad), 10, timeout_s=10)


@pytest.mark.parametrize(
    "bad",
    [
        "SELECT query_to_xml('select pg_read_file(''/etc/hostname'')', true, true, '')",
        "SELECT len(range(300000000))",
        "SELECT repeat('x', 1000000000)",
        "SELECT ts_stat('select 1')",
        "SELECT lo_import('/etc/passwd')",
        "SELECT * FROM database_to_xml(true, true, '')",
        "SELECT dblink('host=127.0.0.1', 'select 1')",
        "SELECT current_setting('data_directory')",
        "SELECT some_function_added_next_year(1)",
    ],
)
def test_guard_allows_functions_by_name(bad: str) -> None:
    with pytest.raises(SQLRefused, match="not allowed"):
        check(bad, tables=TABLE_NAMES, dialect="postgres")


def test_duckdb_connection_is_read_only_without_file_access(duck: Path) -> None:
    # even SQL that slipped past the guard could not write or read files
    raw = check("select 1", tables=TABLE_NAMES)
    for bad in ("CREATE TABLE x (a int)", "SELECT * FROM read_csv('/etc/passwd')", "SET threads = 4"):
        sneaky = type(raw)(sql=bad, original=bad, tables=raw.tables, limit=raw.limit)
        with pytest.raises(sqlexec.SQLFailed):
            sqlexec.run_duckdb(duck, sneaky, 5)


@pytest.mark.postgres
def test_postgres_answers_the_same_and_times_out(pg: tuple[str, str]) -> None:
    url, schema = pg
    res = sqlexec.run_postgres(
        url, schema, check(REVENUE_BY_GENRE, tables=TABLE_NAMES, dialect="postgres"), 10
    )
    assert res.rows == [["Rock", 826.65], ["Latin", 382.14], ["Metal", 261.36]]
    slow = check(
        "select count(*) from generate_series(1, 100000000000)", tables=TABLE_NAMES, dialect="postgres"
    )
    with pytest.raises(sqlexec.SQLTimeout):
        sqlexec.run_postgres(url, schema, slow, 1.0)
    raw = check("select 1", tables=TABLE_NAMES, dialect="postgres")
    sneaky = type(raw)(sql=f'DELETE FROM "{schema}".artist', original="", tables=raw.tables, limit=10)
    with pytest.raises(sqlexec.SQLFailed, match="read-only"):
        sqlexec.run_postgres(url, schema, sneaky, 5)


@pytest.mark.postgres
def test_postgres_role_reads_only_its_schema(pg: tuple[str, str]) -> None:
    url, schema = pg
    for bad in (
        "SELECT query_to_xml('select pg_read_file(''/etc/hostname'')', true, true, '')",
        "SELECT pg_read_file('/etc/hostname')",
        "SELECT query_to_xml('select * from pg_authid', true, true, '')",
        "SELECT pg_ls_dir('/')",
        "SELECT lo_import('/etc/hostname')",
        "SELECT * FROM pg_authid",
        f'CREATE TABLE "{schema}".x (a int)',
        "CREATE TABLE public.x (a int)",
    ):
        raw = check("select 1", tables=TABLE_NAMES, dialect="postgres")
        sneaky = type(raw)(sql=bad, original=bad, tables=raw.tables, limit=10)
        with pytest.raises(sqlexec.SQLFailed):
            sqlexec.run_postgres(url, schema, sneaky, 5)


@pytest.mark.postgres
def test_postgres_refuses_a_superuser(pg: tuple[str, str]) -> None:
    _, schema = pg
    with pytest.raises(sqlexec.SQLFailed, match="privileged"):
        sqlexec.run_postgres(ADMIN_URL, schema, check("select 1", tables=TABLE_NAMES, dialect="postgres"), 5)


async def test_sql_worker_on_the_bus(duck: Path) -> None:
    def code(text_: str, language: str = "sql") -> Code:
        return Code(
            correlation_id="s1",
            question_id="q1",
            dataset="chinook",
            language=language,  # type: ignore[arg-type]
            code=text_,
            attempt=1,
            max_attempts=3,
            model="test",
        )

    async with on_memory(sql.build(datasets.AnalystSettings(data_dir=duck.parent)), partitions=1) as (
        bus,
        seen,
    ):
        publish = bus.publisher("test@1")
        await publish(code(REVENUE_BY_GENRE))
        await publish(code("DELETE FROM track"))
        await publish(code("select nope from track"))
        await publish(code("print(1)", language="python"))  # not the SQL worker's
        await bus.drained()
    results = [e for e in seen if isinstance(e, Result)]
    assert [r.ok for r in results] == [True, False, False]
    assert results[0].table and results[0].table.rows[0] == ["Rock", 826.65]
    assert results[1].error_kind == "refused" and "DELETE" in (results[1].error or "")
    assert results[2].error_kind == "runtime" and "nope" in (results[2].error or "")


def test_score_corpus_is_queryable_on_the_music_dataset(duck: Path) -> None:
    music = datasets.dataset("music")
    per = sqlexec.run_duckdb(
        duck,
        check(
            "select collection, count(*) as works from score group by 1 order by 2 desc limit 3",
            tables=set(music.tables),
        ),
        10,
    )
    assert per.rows == [["essenFolksong", 8514], ["oneills1850", 2009], ["palestrina", 1318]]
    bach = sqlexec.run_duckdb(
        duck,
        check(
            "select count(*), min(range_semitones) >= 0, max(parts) from score where composer = 'J.S. Bach'",
            tables=set(music.tables),
        ),
        10,
    )
    assert bach.rows[0][0] >= 400 and bach.rows[0][1] is True and bach.rows[0][2] >= 4
    with pytest.raises(Exception, match="unknown table"):
        check("select * from score", tables=set(datasets.dataset("chinook").tables))


async def test_a_database_of_yours_by_url(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "shop.db"
    con = sqlite3.connect(db)
    con.executescript(
        "create table product (id integer primary key, name text, price real);"
        "create table sale (id integer primary key, product_id integer references product(id), qty integer);"
        "insert into product values (1, 'lp', 20.0), (2, 'cd', 9.5);"
        "insert into sale values (1, 1, 2), (2, 2, 5), (3, 1, 1);"
    )
    con.commit()
    con.close()
    settings = datasets.AnalystSettings(data_dir=tmp_path, databases={"shop": f"sqlite:///{db}"})
    shop = datasets.dataset("shop", settings)
    assert shop.tables == {"product", "sale"} and shop.dialect == "sqlite"
    assert "product_id -> product" in next(t.doc for t in datasets.tables(shop) if t.name == "sale")

    def code(text_: str, dataset: str = "shop") -> Code:
        return Code(
            correlation_id="s1",
            question_id="q1",
            dataset=dataset,
            language="sql",
            code=text_,
            attempt=1,
            max_attempts=1,
            model="test",
        )

    ok = await sql.run(
        code(
            "select p.name, sum(s.qty * p.price) as revenue from sale s join product p on p.id = s.product_id "
            "group by 1 order by 2 desc"
        ),
        settings,
    )
    assert ok.ok and ok.table and ok.table.rows == [["lp", 60.0], ["cd", 47.5]]
    refused = await sql.run(code("delete from sale"), settings)
    assert not refused.ok and refused.error_kind == "refused"
    unknown = await sql.run(code("select 1", dataset="nope"), settings)
    assert not unknown.ok and "known:" in (unknown.error or "")
    gone = datasets.AnalystSettings(
        data_dir=tmp_path, databases={"gone": "postgresql+psycopg://nobody@127.0.0.1:1/x"}
    )
    unreachable = await sql.run(code("select 1", dataset="gone"), gone)
    assert not unreachable.ok and "gone" in (unreachable.error or "")


def test_sample_values_of_category_columns(duck: Path, tmp_path: Path) -> None:
    from switchboard.workers.analyst import prompts, samples

    settings = datasets.AnalystSettings(data_dir=duck.parent)
    ds = datasets.dataset("music", settings)
    shown = {t.name: dict(t.samples) for t in samples.with_samples(ds, datasets.tables(ds), settings)}
    assert shown["customer"]["country"][0] == "USA"  # the most frequent first
    assert len(shown["genre"]["name"]) == samples.SHOWN  # the one text column of a lookup table
    assert "name" not in shown.get("track", {}) and "email" not in shown["customer"]  # not categories
    assert "essenFolksong" in shown["score"]["collection"]
    line = prompts.schema_text(samples.with_samples(ds, datasets.tables(ds), settings))
    assert "country varchar e.g. 'USA'" in line
    # a database of yours (SQLite, PascalCase): read the same way; one that is away: no samples, no error
    import sqlite3

    db = tmp_path / "shop.db"
    con = sqlite3.connect(db)
    con.executescript(
        'create table "Product" ("Id" integer primary key, "Kind" text);'
        "insert into \"Product\" values (1, 'Vinyl'), (2, 'Vinyl'), (3, 'CD'), (4, 'CD'), (5, 'Tape');"
    )
    con.commit()
    con.close()
    yours = datasets.AnalystSettings(data_dir=tmp_path, databases={"shop": f"sqlite:///{db}"})
    shop = datasets.dataset("shop", yours)
    (product,) = samples.with_samples(shop, datasets.tables(shop), yours)
    assert dict(product.samples)["Kind"] == ("CD", "Vinyl", "Tape")
    gone = datasets.Dataset("gone", "url", frozenset({"t"}), "", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    table = datasets.tables(shop)[0]
    assert samples.with_samples(gone, [table], yours) == [table]
