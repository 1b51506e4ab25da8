"""What every analyst.result repeats of the code it ran, so the code generator
can retry from the result alone (workers keep no state between events)."""

from __future__ import annotations

from typing import Any

from switchboard.schemas import Code


def result_fields(code: Code) -> dict[str, Any]:
    return {
        "correlation_id": code.correlation_id,
        "question_id": code.question_id,
        "attempt": code.attempt,
        "max_attempts": code.max_attempts,
        "question": code.question,
        "dataset": code.dataset,
        "language": code.language,
        "code": code.code,
        "job": code.job,
        "asked_at": code.asked_at,
        "rechecked": code.rechecked,
        "tried": code.tried,
        "fallback": code.fallback,
    }
