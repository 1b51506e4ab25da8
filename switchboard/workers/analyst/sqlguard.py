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
# Functions are allowed by name, per dialect; anything else is refused, so a
# function that runs SQL from a string, reads files or talks to the server
# (query_to_xml, ts_stat, dblink, lo_*, pg_read_file, read_text, ...) or one
# added in a later release is refused by default. Names are sqlglot's for the
# functions it knows, the dialect's own for the rest.
_AGGREGATE = """count count_if countif sum avg min max median mode stddev stddev_pop stddev_samp variance
var_pop var_samp corr covar_pop covar_samp group_concat string_agg listagg list_agg array_agg
logical_and logical_or bool_and bool_or every any_value first last arg_max arg_min max_by min_by
approx_distinct approx_count_distinct percentile_cont percentile_disc quantile quantile_cont
quantile_disc approx_quantile total product entropy kurtosis skewness regr_slope regr_intercept
regr_r2 bit_and bit_or bit_xor"""
_WINDOW = """row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
nth_value"""
_SCALAR = """case if iif coalesce nullif ifnull nvl greatest least cast try_cast typeof hash md5 sha256
in between is_nan isnan isinf"""
_MATH = """abs ceil ceiling floor round trunc truncate sign sqrt cbrt power pow exp ln log log2 log10
mod div pi degrees radians sin cos tan asin acos atan atan2 random rand gcd lcm factorial even"""
_STRING = """length len char_length character_length octet_length lower upper initcap lcase ucase trim
ltrim rtrim btrim substring substr left right replace translate concat concat_ws str_position
strpos instr position reverse split_part starts_with startswith ends_with
contains regexp_like regexp_matches regexp_replace regexp_extract regexp_substr like ilike
chr char ascii unicode hex unhex md5 to_hex string_to_array split format_number"""
_DATETIME = """current_date current_timestamp current_time now today date datetime time timestamp
extract date_part datepart date_trunc timestamp_trunc datetime_trunc time_trunc trunc_date
datediff date_diff timestampdiff date_add date_sub dateadd timestamp_add timestamp_sub
year month day dayofmonth dayofweek day_of_week dayofyear day_of_year week weekofyear
week_of_year yearweek quarter hour minute second epoch dayname monthname last_day
time_to_str str_to_time str_to_date time_str_to_time time_to_unix unix_to_time
ts_or_ds_to_date ts_or_ds_to_timestamp date_from_parts make_date make_timestamp make_interval
to_char to_date to_timestamp strftime strptime julianday age justify_days justify_hours
interval date_str_to_date date_to_date_str iso_week isodow isoyear"""
_ALLOWED_FUNCTIONS = {
    name for block in (_AGGREGATE, _WINDOW, _SCALAR, _MATH, _STRING, _DATETIME) for name in block.split()
}
# left out on purpose: functions that make one value of gigabytes from small
# arguments (repeat, range/generate_series as values, lpad/rpad, printf/format,
# zeroblob, randomblob); range and generate_series stay as table functions
_TABLE_FUNCTIONS = {"range", "generate_series", "exploding_generate_series", "unnest", "explode"}


# syntax that newer sqlglot models as functions too (AND, OR, XOR, EXISTS, COLLATE)
_OPERATORS = (exp.Connector, exp.Exists, exp.Collate)


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
        if (
            isinstance(node, exp.Func)
            and not isinstance(node, _OPERATORS)
            and not isinstance(node.parent, exp.Table)
        ):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name not in _ALLOWED_FUNCTIONS:
                raise SQLRefused(
                    f"function {name}() is not allowed; use standard aggregate, window, string, "
                    "math and date/time functions"
                )
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
