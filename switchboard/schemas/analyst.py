"""Analyst pipeline events: analyst.question -> analyst.code -> analyst.result.

A failed result goes back to code generation as a new attempt, bounded by
``max_attempts``; every attempt is its own event so a replay shows the path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from .base import Event, Id, LongText, Name, Part, Scalar, ShortText, Text

Language = Literal["sql", "python"]
Tried = Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=10)]
"""Digests of the code of the earlier attempts: an attempt is never run twice."""
MAX_ROWS_ON_BUS = 1_000
MAX_CHART_BYTES = 400_000
MAX_QUESTION_CHARS = 4_000
QuestionText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_QUESTION_CHARS, strip_whitespace=True)
]
"""A question in words: not empty, and short enough to leave the model room for the schema."""


class Question(Event):
    """A question in words about a dataset; ``job`` when it came as a job (its status is reported)."""

    type: Literal["analyst.question"] = "analyst.question"
    question: QuestionText
    dataset: Name = "chinook"
    """chinook | music (DuckDB), chinook-pg | music-pg (PostgreSQL), or one of yours."""
    language: Language | None = None
    """sql | python; unset: python when a chart is asked for, else sql."""
    max_attempts: int = Field(default=3, ge=1, le=10)
    job: bool = False
    """Submitted as a job: progress goes to jobs.status under the same id."""


class Code(Event):
    """One attempt's code (SQL or Python) for a question, with the error of the attempt before it."""

    type: Literal["analyst.code"] = "analyst.code"
    question_id: Id
    dataset: Name
    language: Language
    code: LongText
    attempt: int = Field(ge=1, le=10)
    max_attempts: int = Field(ge=1, le=10)
    model: Name
    question: Text = ""
    previous_error: Text | None = None
    job: bool = False
    asked_at: datetime | None = None
    """When the question was asked: progress says how long it has been working."""
    rechecked: bool = False
    """A second look at an answer that ran but looked empty (no rows, only NULL)."""
    tried: Tried = []
    fallback: LongText | None = None
    """The code of the answer a second look is about: it stands if the second look fails."""


class Table(Part):
    """Rows of a result, bounded for the bus; ``truncated`` when more rows exist."""

    columns: Annotated[list[Name], Field(max_length=256)]
    rows: Annotated[list[Annotated[list[Scalar], Field(max_length=256)]], Field(max_length=MAX_ROWS_ON_BUS)]
    truncated: bool = False
    total_rows: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Table:
        width = len(self.columns)
        if any(len(row) != width for row in self.rows):
            raise ValueError("every row must have one value per column")
        return self


class Chart(Part):
    """A result's chart: the PNG the Python code drew, or the Vega-Lite spec for
    the table and that spec rendered as a PNG (for a client that cannot run it)."""

    png: Annotated[bytes, Field(max_length=MAX_CHART_BYTES)] | None = None
    vega_lite: LongText | None = None
    png_from_spec: bool = False
    """The PNG is the spec rendered, not a drawing of the code."""


class Result(Event):
    """One attempt's outcome: a table (and chart) or an error of a known kind."""

    type: Literal["analyst.result"] = "analyst.result"
    question_id: Id
    attempt: int = Field(ge=1, le=10)
    max_attempts: int = Field(default=1, ge=1, le=10)
    ok: bool
    table: Table | None = None
    chart: Chart | None = None
    stdout: Text = ""
    error: Text | None = None
    error_kind: Literal["refused", "timeout", "limit", "runtime", "llm"] | None = None
    cached: bool = False
    elapsed_ms: int = Field(default=0, ge=0)
    note: ShortText = ""
    # what was run, so the code generator can retry without keeping state
    question: Text = ""
    dataset: Name | None = None
    language: Language | None = None
    code: LongText = ""
    job: bool = False
    asked_at: datetime | None = None
    rechecked: bool = False
    tried: Tried = []
    fallback: LongText | None = None


class Insight(Event):
    """The answer in words, streamed: one piece of one or two sentences that state
    what the final result says; ``last`` closes it."""

    type: Literal["analyst.insight"] = "analyst.insight"
    question_id: Id
    index: int = Field(ge=0)
    text: ShortText = ""
    last: bool = False


class Feedback(Event):
    """A user's verdict on an answer: ``right`` keeps its question and code as a
    worked example for questions like it; ``wrong`` drops it (and its cached result).
    Only the session or job that asked may judge: ``question_id`` unset means the
    latest question of this correlation (a job's)."""

    type: Literal["analyst.feedback"] = "analyst.feedback"
    question_id: Id | None = None
    verdict: Literal["right", "wrong"]


AnalystEvent = Question | Code | Result | Insight | Feedback
