"""A user's own database with other naming conventions: the Chinook data as
SQLite with PascalCase tables and columns (``Album.ArtistId``), keys declared,
as the public Chinook SQLite names them. Gold answers stay those of the
built-in data: the rows are the same, only the names differ."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import duckdb

from switchboard.workers.analyst.chinook import TABLES


def pascal(name: str) -> str:
    """media_type -> MediaType, unit_price -> UnitPrice."""
    return "".join(part.capitalize() for part in name.split("_"))


def pascal_copy(duck: Path, out: Path) -> str:
    """Write the copy at ``out``; returns its SQLAlchemy URL."""
    out.unlink(missing_ok=True)
    src = duckdb.connect(str(duck), read_only=True)
    dst = sqlite3.connect(out)
    try:
        for t in TABLES:
            keys = dict(re.findall(r"(\w+) -> (\w+)", t.doc))
            cols = []
            for col, ty, role in t.columns:
                sql_type = "REAL" if ty.startswith("DECIMAL") else ty.split("(")[0]
                line = f'"{pascal(col)}" {sql_type}' + (" PRIMARY KEY" if role == "pk" else "")
                if col in keys:
                    parent = next(p for p in TABLES if p.name == keys[col])
                    line += f' REFERENCES "{pascal(parent.name)}"("{pascal(parent.columns[0][0])}")'
                cols.append(line)
            dst.execute(f'CREATE TABLE "{pascal(t.name)}" ({", ".join(cols)})')
            names = [c for c, _, _ in t.columns]
            rows = src.execute(f"SELECT {', '.join(names)} FROM {t.name}").fetchall()
            marks = ", ".join("?" for _ in names)
            dst.executemany(
                f'INSERT INTO "{pascal(t.name)}" VALUES ({marks})',
                [tuple(float(v) if type(v).__name__ == "Decimal" else v for v in r) for r in rows],
            )
        dst.commit()
    finally:
        src.close()
        dst.close()
    return f"sqlite:///{out}"
