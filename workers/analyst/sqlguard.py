"""Generated SQL is parsed (sqlglot) and must be one read-only query over the
dataset's own tables; it gets a row limit. Anything else is refused with a
reason the code generator can act on.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

# Statement kinds that write, change schema or settings, or leave the query.
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name)
    for name in (
        "Insert",
        "Update",
        "Delete",
        "Merge",
        "Create",
        "Drop",
        "Alter",
        "AlterTable",
        "Command",
        "Copy",
        "Set",
        "Pragma",
        "Attach",
        "Detach",
        "Use",
        "Transaction",
        "Commit",
        "Rollback",
        "Grant",
        "Revoke",
        "LoadData",
        "Into",
        "Install",
        "Load",
        "TruncateTable",
        "Describe",
        "Summarize",
    )
    if hasattr(exp, name)
)
_FORBIDDEN_FUNCTIONS = {
    "pg_sleep",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "lo_import",
    "lo_export",
    "dblink",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "set_config",
    "current_setting",
    "query",
    "query_table",
    "getenv",
    "glob",
    "sniff_csv",
    "parquet_scan",
    "csv_scan",
    "sleep",
}
_FORBIDDEN_PREFIXES = ("read_", "pg_", "duckdb_", "sqlite_", "postgres_", "mysql_", "iceberg_", "delta_")
_TABLE_FUNCTIONS = {"range", "generate_series", "exploding_generate_series", "unnest", "explode"}


class SQLRefused(ValueError):
    """The SQL is not a single read-only query over the dataset."""


@dataclass(frozen=True)
class CheckedSQL:
    sql: str  # the query wrapped in a row limit
    original: str
    tables: frozenset[str]
    limit: int


def check(sql: str, *, tables: set[str], dialect: str = "duckdb", limit: int = 10_000) -> CheckedSQL:
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise SQLRefused("empty SQL")
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except ParseError as exc:
        raise SQLRefused(f"SQL does not parse: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise SQLRefused(f"exactly one statement is allowed, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise SQLRefused(f"only SELECT/WITH queries are allowed, got {tree.key.upper()}")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    allowed = {t.lower() for t in tables}
    used: set[str] = set()
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise SQLRefused(f"{node.key.upper()} is not allowed in a read-only query")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in _FORBIDDEN_FUNCTIONS or name.startswith(_FORBIDDEN_PREFIXES):
                raise SQLRefused(f"function {name}() is not allowed")
        if isinstance(node, exp.Table):
            if isinstance(node.this, exp.Func):
                fname = (
                    node.this.name if isinstance(node.this, exp.Anonymous) else node.this.sql_name()
                ).lower()
                if fname not in _TABLE_FUNCTIONS:
                    raise SQLRefused(f"table function {fname}() is not allowed")
                continue
            if not isinstance(node.this, exp.Identifier):
                raise SQLRefused(f"table reference {node.sql(dialect)!r} is not allowed")
            name = node.name.lower()
            if node.this.quoted and ("/" in name or "." in name):
                raise SQLRefused(f"file reference {node.name!r} is not allowed")
            if name in ctes:
                continue
            if node.db and node.db.lower() not in ("main", "analyst", "public"):
                raise SQLRefused(f"schema {node.db!r} is not allowed; tables: {', '.join(sorted(allowed))}")
            if name not in allowed:
                raise SQLRefused(f"unknown table {node.name!r}; tables: {', '.join(sorted(allowed))}")
            used.add(name)
    wrapped = f"SELECT * FROM ({tree.sql(dialect=dialect)}) AS _q LIMIT {limit + 1}"
    return CheckedSQL(sql=wrapped, original=text, tables=frozenset(used), limit=limit)
