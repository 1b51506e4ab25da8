"""Chinook in DuckDB and PostgreSQL, queried through the guard, limits and the SQL worker."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from faststream.nats import NatsBroker, TestNatsBroker
from faststream.nats.annotations import NatsMessage
from sqlalchemy import create_engine, text

from bus import BusSettings
from bus.fs_runner import FastStreamPublisher, mount
from schemas import Code, Result
from workers.analyst import datasets, sql, sqlexec
from workers.analyst.chinook import TABLES
from workers.analyst.sqlguard import check

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
}
REVENUE_BY_GENRE = (
    "select g.name as genre, round(sum(il.unit_price * il.quantity), 2) as revenue "
    "from invoice_line il join track t on t.track_id = il.track_id "
    "join genre g on g.genre_id = t.genre_id group by 1 order by 2 desc limit 3"
)


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "chinook.duckdb"
    assert datasets.load_duckdb(path) == EXPECTED
    return path


@pytest.fixture(scope="module")
def pg() -> Iterator[tuple[str, str]]:
    url = os.environ.get("SWITCHBOARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
    schema = "chinook_" + uuid.uuid4().hex[:8]
    assert datasets.load_postgres(url, schema) == EXPECTED
    yield url, schema
    engine = create_engine(url)
    with engine.begin() as con:
        con.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
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


async def test_sql_worker_on_the_bus(duck: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql, "settings", datasets.AnalystSettings(data_dir=duck.parent))
    broker = NatsBroker()
    settings = BusSettings(broker="memory", namespace="unit")
    mount(broker, sql.worker, settings)
    results: list[Result] = []

    @broker.subscriber("unit.analyst.result.*")
    async def sink(msg: NatsMessage) -> None:
        results.append(Result.model_validate_json(msg.body))

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

    async with TestNatsBroker(broker):
        pub = FastStreamPublisher(broker, settings, "test@1")
        await pub.publish(code(REVENUE_BY_GENRE))
        await pub.publish(code("DELETE FROM track"))
        await pub.publish(code("select nope from track"))
        await pub.publish(code("print(1)", language="python"))  # not the SQL worker's
    assert [r.ok for r in results] == [True, False, False]
    assert results[0].table and results[0].table.rows[0] == ["Rock", 826.65]
    assert results[1].error_kind == "refused" and "DELETE" in (results[1].error or "")
    assert results[2].error_kind == "runtime" and "nope" in (results[2].error or "")
