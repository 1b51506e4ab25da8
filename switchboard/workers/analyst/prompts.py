"""Prompts for the code generator: schema-aware, with the previous attempt's
code and error when retrying; and pulling the code out of the model's reply."""

from __future__ import annotations

import re
from collections.abc import Sequence

from switchboard.workers.engines.llm import Message

from .chinook import TABLES, Table

_FENCE = re.compile(r"```(?:sql|python|py|duckdb|postgresql)?\s*\n(.*?)(?:```|$)", re.S | re.I)
_SQL_START = re.compile(r"\b(WITH|SELECT)\b.*", re.S | re.I)


# Worked examples: small models answer in prose without them (SmolLM2-135M did;
# with them it writes SQL, if not always the right SQL).
EXAMPLES: dict[str, list[Message]] = {
    "sql": [
        {"role": "user", "content": "How many albums are there?"},
        {"role": "assistant", "content": "```sql\nSELECT count(*) AS albums FROM album\n```"},
        {"role": "user", "content": "List the genres with their number of tracks."},
        {
            "role": "assistant",
            "content": "```sql\nSELECT g.name, count(*) AS tracks FROM track t "
            "JOIN genre g ON g.genre_id = t.genre_id GROUP BY g.name ORDER BY tracks DESC\n```",
        },
    ],
    "python": [
        {"role": "user", "content": "What is the average price of the tracks on the album 'Big Ones'?"},
        {
            "role": "assistant",
            "content": '```python\ndf = con.execute("SELECT t.unit_price FROM track t JOIN album a '
            "ON a.album_id = t.album_id WHERE a.title = 'Big Ones'\").df()\n"
            'result = df["unit_price"].mean()\n```',
        },
        {"role": "user", "content": "Plot the number of tracks per media type."},
        {
            "role": "assistant",
            "content": '```python\ndf = con.execute("SELECT m.name, count(*) AS tracks FROM track t '
            'JOIN media_type m ON m.media_type_id = t.media_type_id GROUP BY m.name").df()\n'
            "df.plot.bar(x='name', y='tracks')\nresult = df\n```",
        },
    ],
}


def schema_text(tables: Sequence[Table] = TABLES) -> str:
    """One line per table: name(column type, ...) -- what it holds."""
    lines = []
    for t in tables:
        cols = ", ".join(f"{c} {ty.split('(')[0].lower()}" for c, ty, _ in t.columns)
        lines.append(f"{t.name}({cols}) -- {t.doc}")
    return "\n".join(lines)


def messages(
    question: str,
    language: str,
    dialect: str,
    schema: str,
    previous_code: str | None = None,
    error: str | None = None,
) -> list[Message]:
    if language == "sql":
        system = (
            f"You write one {dialect} SQL SELECT query that answers the user's question "
            f"over these tables:\n{schema}\nText values go in single quotes ('J.S. Bach'). "
            "Reply with the SQL only, in a ```sql block."
        )
    else:
        system = (
            "You write short Python that answers the user's question. A read-only DuckDB "
            "connection `con` is open on these tables:\n"
            f"{schema}\n"
            "Use `df = con.execute(sql).df()` with pandas (`pd`), numpy (`np`) and matplotlib "
            "(`plt`), and assign the answer (a DataFrame or a value) to `result`. In SQL, text "
            "values go in single quotes, so write the SQL in a double-quoted Python string. "
            "Name every computed column in the SQL (`count(*) AS n`) and read columns only by "
            "the names your query gives them; for a single value use `df.iloc[0, 0]`. "
            "Draw a chart only when asked. Reply with the code only, in a ```python block."
        )
    out: list[Message] = [{"role": "system", "content": system}, *EXAMPLES[language]]
    out.append({"role": "user", "content": question})
    if previous_code is not None:
        out.append({"role": "assistant", "content": f"```{language}\n{previous_code}\n```"})
        out.append(
            {
                "role": "user",
                "content": f"That failed with this error:\n{_last_lines(error or '')}\n"
                "Write a corrected version of the code.",
            }
        )
    return out


def _last_lines(error: str, n: int = 3) -> str:
    """The end of an error: a traceback's last lines say what went wrong."""
    lines = [ln for ln in error.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-n:])[:2000]


def extract_code(reply: str, language: str) -> str:
    """The code in a model reply: the first fenced block, else the reply itself
    (from its first SELECT/WITH, for SQL)."""
    match = _FENCE.search(reply)
    code = match.group(1) if match else reply
    if language == "sql":
        found = _SQL_START.search(code)
        code = found.group(0) if found else code
        code = code.split(";")[0]
    return code.strip()
