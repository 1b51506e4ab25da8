"""Generated Python in the sandbox: answers, charts, and every attack refused or killed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from switchboard.schemas import Code
from switchboard.workers.analyst import datasets
from switchboard.workers.analyst import python as python_worker
from switchboard.workers.analyst.sandbox import Limits, Sandbox, run_python


def _escaped() -> bool:
    return os.path.exists("/tmp/escaped.csv")


LIMITS = Limits(cpu_s=4, wall_s=8, memory_bytes=1 << 30)


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "analyst.duckdb"
    datasets.load_duckdb(path)
    return path


async def test_answers_with_table_chart_and_stdout(duck: Path) -> None:
    code = (
        "df = con.execute('select g.name as genre, count(*) as n from track t "
        "join genre g using (genre_id) group by 1 order by 2 desc').df()\n"
        "print(len(df), 'genres')\n"
        "result = df.head(3)\n"
        "df.head(5).plot.bar(x='genre', y='n')\n"
    )
    out = await run_python(code, duck, LIMITS)
    assert out.ok, out.error
    assert out.table == {
        "columns": ["genre", "n"],
        "rows": [["Rock", 1297], ["Latin", 579], ["Metal", 374]],
        "truncated": False,
        "total_rows": 3,
    }
    assert out.stdout == "25 genres\n"
    assert out.chart_png and out.chart_png.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("code", "kind", "message"),
    [
        ("import os\nos.system('id')", "refused", "import of 'os' is not allowed"),
        ("import subprocess", "refused", "import of 'subprocess' is not allowed"),
        ("import socket", "refused", "import of 'socket' is not allowed"),
        ("import pandas\npandas.io.common.os.system('id')", "refused", "os.system is not allowed"),
        ("print(open('/etc/passwd').read())", "refused", "open is not allowed"),
        ("import pandas as pd\npd.read_csv('/etc/passwd')", "refused", "reading /etc/passwd is not allowed"),
        (
            "import pandas as pd\npd.read_csv('http://127.0.0.1:9/x.csv')",
            "refused",
            "not allowed in the sandbox",
        ),
        (
            "import pandas as pd\npd.DataFrame({'a': [1]}).to_csv('/usr/escaped.csv')",
            "refused",
            "writing /usr/escaped.csv",
        ),
        ("import pandas\npandas.io.common.os.fork()", "refused", "os.fork is not allowed"),
        ("x = ().__class__.__bases__[0].__subclasses__()", "refused", "private attribute"),
        ("eval('1')", "refused", "eval is not allowed"),
        ("while True:\n    pass", "limit", "CPU-time limit"),
        ("import numpy as np\nx = np.ones(10_000_000_000 // 8)", "limit", "memory limit"),
        ("con.execute('delete from track')", "runtime", "Cannot execute statement"),
        ("y = 1 / 0", "runtime", "line 1: ZeroDivisionError"),
    ],
)
async def test_attacks_are_refused_or_killed(duck: Path, code: str, kind: str, message: str) -> None:
    out = await run_python(code, duck, LIMITS)
    assert not out.ok
    assert out.error_kind == kind, out.error
    assert message in (out.error or "")
    assert not _escaped()


async def test_wall_time_limit_stops_sleepers(duck: Path) -> None:
    out = await run_python("import time\n", duck, LIMITS)  # time is not allowed either
    assert out.error_kind == "refused"
    out = await run_python(
        "con.execute('select count(*) from range(10000000000000)').fetchall()",
        duck,
        Limits(cpu_s=60, wall_s=3, memory_bytes=1 << 30),
    )
    assert out.error_kind in ("timeout", "limit")


async def test_output_is_bounded(duck: Path) -> None:
    out = await run_python("for i in range(100000):\n    print('x' * 100)", duck, Limits(output_bytes=1000))
    assert out.ok and len(out.stdout) == 1000 and out.extra["stdout_truncated"]


async def test_worker_turns_outcomes_into_results(duck: Path) -> None:
    settings, sandbox = datasets.AnalystSettings(data_dir=duck.parent), Sandbox()

    def code(text: str) -> Code:
        return Code(
            correlation_id="s",
            question_id="q",
            dataset="chinook",
            language="python",
            code=text,
            attempt=2,
            max_attempts=3,
            model="test",
        )

    ok = await python_worker.run(
        code("result = con.execute('select count(*) as n from artist').df()"), settings, sandbox
    )
    assert ok.ok and ok.table and ok.table.rows == [[275]] and ok.attempt == 2
    bad = await python_worker.run(code("import shutil"), settings, sandbox)
    assert not bad.ok and bad.error_kind == "refused"
