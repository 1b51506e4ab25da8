"""Prompts for the code generator: schema-aware, with the previous attempt's
code and error when retrying; and pulling the code out of the model's reply."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from switchboard.workers.engines.llm import Message

from .chinook import TABLES, Table
from .memory import Example

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


CURATED = frozenset({"album", "track", "genre", "media_type"})  # the tables EXAMPLES are written for
_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")
_FK = re.compile(r"(\w+) -> (\w+)")
_TEXT_TYPES = ("CHAR", "TEXT", "STRING", "CLOB")


def ident(name: str) -> str:
    """A table or column name as SQL must write it: quoted unless plain lower case."""
    return name if _PLAIN.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def examples(language: str, tables: Sequence[Table]) -> list[Message]:
    """Worked examples for the dataset at hand: the curated ones where its tables
    are the built-in store's, else two written from its own schema (its names,
    its case, its keys), so another database is not steered into our names."""
    names = {t.name for t in tables}
    if names >= CURATED or language != "sql" or not tables:
        return EXAMPLES[language]
    by_name = {t.name: t for t in tables}
    first = tables[0]
    out: list[Message] = [
        {"role": "user", "content": f"How many rows does the {first.name} table have?"},
        {"role": "assistant", "content": f"```sql\nSELECT count(*) AS n FROM {ident(first.name)}\n```"},
    ]
    for child in tables:
        for col, parent_name in _FK.findall(child.doc):
            parent = by_name.get(parent_name)
            child_cols = {c for c, _, _ in child.columns}
            if parent is None or col not in child_cols:
                continue
            cols = [c for c, _, _ in parent.columns]
            key = col if col in cols else cols[0]
            label = next((c for c, ty, _ in parent.columns if any(t in ty.upper() for t in _TEXT_TYPES)), key)
            sql = (
                f"SELECT p.{ident(label)}, count(*) AS n FROM {ident(child.name)} c "
                f"JOIN {ident(parent.name)} p ON p.{ident(key)} = c.{ident(col)} "
                f"GROUP BY p.{ident(label)} ORDER BY n DESC"
            )
            question = f"List each {parent.name} ({label}) with its number of {child.name} rows, most first."
            out += [
                {"role": "user", "content": question},
                {"role": "assistant", "content": f"```sql\n{sql}\n```"},
            ]
            return out
    return out


def fix_hints(error: str, code: str, tables: Sequence[Table]) -> str:
    """Facts that fix a failed attempt: the real columns of the tables its code
    names, and for a name that does not exist, the nearest real ones."""
    by_lower = {t.name.lower(): t for t in tables}
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code)}
    used = [t for name, t in by_lower.items() if name in words]
    lines = [f"Columns of {t.name}: {', '.join(c for c, _, _ in t.columns)}" for t in used[:6]]
    missing = re.findall(
        r'(?:[Tt]able with name|relation|[Tt]able) "?([A-Za-z_][\w.]*)"? does not exist|no such table: ([\w.]+)'
        r"|unknown table '([\w.]+)'",
        error,
    )
    missing = [a or b or c for a, b, c in missing]
    for name in dict.fromkeys(m for m in missing if m.lower() not in by_lower):
        near = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)
        if near:
            real = ", ".join(by_lower[n].name for n in near)
            lines.append(f"There is no table {name}; the nearest are: {real}")
    if "cannot be nested" in error or "aggregate function calls cannot contain" in error:
        lines.append(
            "Aggregates do not nest: aggregate in a subquery first, "
            "SELECT avg(n) FROM (SELECT count(*) AS n FROM t GROUP BY k) AS per_k"
        )
    grouped = re.search(r'column "?([\w.]+)"? must appear in the GROUP BY clause', error)
    if grouped:
        name = grouped.group(1)
        lines.append(
            f"A column selected beside an aggregate must be grouped: GROUP BY {name} "
            f"(SELECT {name}, count(*) AS n ... GROUP BY {name} ORDER BY n DESC)"
        )
    if "duplicate alias" in error or "specified more than once" in error:
        lines.append("Give every table in FROM and JOIN its own alias (album al JOIN artist ar)")
    aliases = _aliases(code, by_lower)
    for alias, column in _pairs(error):
        table = aliases.get(alias.lower()) or by_lower.get(alias.lower())
        if table is None:
            continue
        having = [t for t in tables if any(c.lower() == column.lower() for c, _, _ in t.columns)]
        names = ", ".join(t.name for t in having)
        where = f"; {column} is a column of {names} (join through the keys)" if having else ""
        lines.append(f"{table.name} has no column {column}{where}")
        for other in having:  # a key of another table that points here: say how to join
            if (column.lower(), table.name.lower()) in {
                (c.lower(), p.lower()) for c, p in _FK.findall(other.doc)
            }:
                key = _key(table)
                lines.append(
                    f"{other.name}.{column} refers to {table.name}.{key}: "
                    f"JOIN ON {other.name}.{column} = {table.name}.{key}"
                )
    bad_columns = re.findall(
        r"(?:column(?: named)?|no such column:|Referenced column)\s+\"?([A-Za-z_][\w.]*)\"?", error
    )
    columns = {c for t in (used or tables) for c, _, _ in t.columns}
    for name in dict.fromkeys(b.split(".")[-1] for b in bad_columns):
        if name in columns:
            continue
        near = difflib.get_close_matches(name, sorted(columns), n=3, cutoff=0.5)
        if near:
            lines.append(f"There is no column {name}; the nearest are: {', '.join(near)}")
    return "\n".join(lines)


def _key(t: Table) -> str:
    """The table's own key: the column marked pk, else the first."""
    return next((c for c, _, role in t.columns if role == "pk"), t.columns[0][0])


def _pairs(error: str) -> list[tuple[str, str]]:
    """(table or alias, column) of each "no such column" error in ``error``."""
    out = []
    for a, b, c, d in re.findall(
        r'[Tt]able "?(\w+)"? does not have a column named "?(\w+)"?|no such column: (\w+)\.(\w+)', error
    ):
        out.append((a, b) if a else (c, d))
    return out


def _aliases(code: str, by_lower: dict[str, Table]) -> dict[str, Table]:
    """alias -> table, from the FROM and JOIN clauses of ``code``."""
    out = {}
    for name, alias in re.findall(r'(?i)\b(?:FROM|JOIN)\s+"?(\w+)"?(?:\s+(?:AS\s+)?"?(\w+)"?)?', code):
        table = by_lower.get(name.lower())
        if table is not None:
            out[name.lower()] = table
            if alias and alias.upper() not in _SQL_WORDS:
                out[alias.lower()] = table
    return out


_SQL_WORDS = frozenset(
    {
        "ON",
        "USING",
        "WHERE",
        "JOIN",
        "LEFT",
        "RIGHT",
        "INNER",
        "OUTER",
        "GROUP",
        "ORDER",
        "LIMIT",
        "CROSS",
        "NATURAL",
        "FULL",
        "UNION",
        "HAVING",
    }
)


def schema_text(tables: Sequence[Table] = TABLES) -> str:
    """One line per table: name(column type, ...) -- what it holds; a column the
    database describes says so, a text column of few values shows some
    (``country varchar e.g. 'USA', 'Canada'``)."""
    lines = []
    for t in tables:
        shown, notes = dict(t.samples), dict(t.comments)
        cols = ", ".join(
            f"{c} {ty.split('(')[0].lower()}"
            + (f" ({notes[c]})" if c in notes else "")
            + _eg(shown.get(c, ()))
            for c, ty, _ in t.columns
        )
        lines.append(f"{t.name}({cols}) -- {t.doc}")
    return "\n".join(lines)


DATES = {
    "DuckDB": "Dates: year(d), month(d), date_trunc('month', d), strftime(d, '%Y-%m'), "
    "d >= DATE '2010-01-01'. ",
    "PostgreSQL": "Dates: extract(year from d), date_trunc('month', d), to_char(d, 'YYYY-MM'), "
    "d >= DATE '2010-01-01'. ",
    "SQLite": "Dates are text: strftime('%Y', d), strftime('%Y-%m', d), d >= '2010-01-01'. ",
}
"""Each dialect's date functions: small models write another dialect's otherwise."""


def _eg(values: Sequence[str]) -> str:
    if not values:
        return ""
    return " e.g. " + ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def messages(
    question: str,
    language: str,
    dialect: str,
    schema: str,
    previous_code: str | None = None,
    error: str | None = None,
    tables: Sequence[Table] = (),
    learned: Sequence[Example] = (),
    fresh: bool = False,
) -> list[Message]:
    """The chat for one attempt: instructions with the schema, worked examples
    for this dataset (then the confirmed pairs nearest the question, nearest
    last), the question, and on a retry the failed code, its error and the
    facts that fix it: as the model's own answer and a reply to it, or
    (``fresh``) only the error and the facts under the question, for a model
    that would copy its failed code."""
    if language == "sql":
        system = (
            f"You write one {dialect} SQL SELECT query that answers the user's question "
            f"over these tables:\n{schema}\nText values go in single quotes ('J.S. Bach'). "
            f"{DATES.get(dialect, '')}Reply with the SQL only, in a ```sql block."
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
    out: list[Message] = [{"role": "system", "content": system}, *examples(language, tables or TABLES)]
    for ex in learned:
        out.append({"role": "user", "content": ex.question})
        out.append({"role": "assistant", "content": f"```{language}\n{ex.code}\n```"})
    if previous_code is not None and fresh:
        # the failed code is left out: shown it, small models write it again
        hints = fix_hints(error or "", previous_code, tables or TABLES)
        out.append(
            {
                "role": "user",
                "content": f"{question}\n\nMind: an earlier try failed with: {last_lines(error or '', 1)}"
                + (f"\n{hints}" if hints else ""),
            }
        )
        return out
    out.append({"role": "user", "content": question})
    if previous_code is not None:
        out.append({"role": "assistant", "content": f"```{language}\n{previous_code}\n```"})
        hints = fix_hints(error or "", previous_code, tables or TABLES)
        facts = f"\n{hints}" if hints else ""
        out.append(
            {
                "role": "user",
                "content": f"That failed with this error:\n{last_lines(error or '')}{facts}\n"
                "Write a corrected version of the code.",
            }
        )
    return out


_CONTEXT = re.compile(r"\s*\^+\s*$|LINE \d+:")  # a database's pointer at the SQL, not what went wrong
_HEADLINE = re.compile(r"\w*(?:Error|Exception)\b|no such |does not exist")


def last_lines(error: str, n: int = 3) -> str:
    """The end of an error: a traceback's last lines say what went wrong. The
    lines that only quote the SQL and point into it (DuckDB's ``LINE 1: ...``
    and ``^``) are left out; one line is the last that names the error."""
    lines = [ln for ln in error.strip().splitlines() if ln.strip() and not _CONTEXT.match(ln)]
    if n == 1:
        named = [ln for ln in lines if _HEADLINE.search(ln)]
        return (named or lines or [""])[-1].strip()[:2000]
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


WORDS = (
    "You state the answer to a question about data in one or two short sentences, using "
    "only the names and numbers in the result table. No SQL, no lists, no speculation."
)


def words_messages(
    question: str, columns: Sequence[str], rows: Sequence[Sequence[object]], total: int
) -> list[Message]:
    """The chat that puts a result table into words (its first rows, as a small table)."""
    shown = [
        " | ".join(map(str, columns)),
        *(" | ".join("" if v is None else str(v) for v in r) for r in rows[:15]),
    ]
    more = f"\n({total} rows in all)" if total > len(rows[:15]) else ""
    table = "\n".join(shown)[:3000]
    return [
        {"role": "system", "content": WORDS},
        {"role": "user", "content": f"Question: {question}\nResult:\n{table}{more}\nAnswer in words:"},
    ]
