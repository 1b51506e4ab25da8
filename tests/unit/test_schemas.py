from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from switchboard.bus import envelope
from switchboard.schemas import (
    EVENT_ADAPTER,
    EVENT_TYPES,
    MAX_EVENT_BYTES,
    AudioChunk,
    JobSubmitted,
    SpeechSegment,
    Table,
    Transcript,
)


def test_every_event_type_is_its_subject_and_round_trips() -> None:
    for subject, cls in EVENT_TYPES.items():
        assert cls.model_fields["type"].default == subject
    ev = AudioChunk(correlation_id="s1", seq=3, pcm=b"\x01\x02" * 100)
    back = EVENT_ADAPTER.validate_json(envelope.encode(ev))
    assert back == ev and isinstance(back, AudioChunk)


def test_strict_validation_refuses_coercion_and_extra_fields() -> None:
    with pytest.raises(ValidationError):
        Transcript.model_validate({"correlation_id": "s", "segment_id": "a", "text": "hi", "is_final": "yes"})
    with pytest.raises(ValidationError):
        JobSubmitted.model_validate({"correlation_id": "s", "kind": "k", "surprise": 1})
    with pytest.raises(ValidationError):
        JobSubmitted(correlation_id="has space", kind="k")


def test_sizes_are_bounded() -> None:
    with pytest.raises(ValidationError):
        AudioChunk(correlation_id="s", seq=0, pcm=b"\x00" * 64_002)
    with pytest.raises(ValidationError):
        AudioChunk(correlation_id="s", seq=0, pcm=b"\x00\x00\x00")  # odd PCM16 length
    with pytest.raises(ValidationError):
        Transcript(correlation_id="s", segment_id="a", text="x" * 20_001, is_final=True)
    with pytest.raises(ValidationError):
        JobSubmitted(correlation_id="s", kind="k", params={str(i): i for i in range(65)})
    with pytest.raises(ValidationError):
        Table(columns=["a", "b"], rows=[[1]])
    biggest = SpeechSegment(
        correlation_id="s", segment_id="g", seq=0, start_ms=0, end_ms=20_000, pcm=b"\x00" * 640_000
    )
    assert len(envelope.encode(biggest)) < MAX_EVENT_BYTES


def test_decode_reports_what_is_wrong() -> None:
    with pytest.raises(envelope.DecodeError) as err:
        envelope.decode("voice.transcript", b'{"type": "voice.transcript"}', {})
    assert err.value.kind == "malformed" and "correlation_id" in str(err.value)
    with pytest.raises(envelope.DecodeError) as err:
        envelope.decode("voice.transcript", b"{}", {envelope.ENVELOPE: "2 s1 - 0 later@1"})
    assert err.value.kind == "schema_version"
    with pytest.raises(envelope.DecodeError) as err:
        envelope.decode("voice.transcript", b"x" * (MAX_EVENT_BYTES + 1), {})
    assert err.value.kind == "oversized"


def test_derived_ids_are_stable_and_distinct() -> None:
    a = envelope.derived_id("e1", "stt", 0)
    assert a == envelope.derived_id("e1", "stt", 0)
    assert a != envelope.derived_id("e1", "stt", 1) != envelope.derived_id("e2", "stt", 1)
    # the same ids as every earlier version derives: a redelivery handled by an
    # upgraded replica must repeat them for the broker's dedupe
    assert a == "939ce35e70371e4653fc8f79b575c43b"


def test_the_envelope_rides_in_one_header_and_reads_back() -> None:
    job = JobSubmitted(correlation_id="s-1", causation_id="c-1", kind="relay")
    h = envelope.headers(job, "relay worker@1")
    assert set(h) == {envelope.EVENT_ID, envelope.ENVELOPE} and h[envelope.EVENT_ID] == job.id
    sent = envelope.read(h)
    assert (sent.schema, sent.correlation_id, sent.causation_id, sent.producer) == (
        "1",
        "s-1",
        "c-1",
        "relay worker@1",
    )
    assert sent.published_at and abs(sent.published_at - time.time()) < 60
    assert (
        envelope.read(envelope.headers(JobSubmitted(correlation_id="s-2", kind="x"), "p")).causation_id == ""
    )
    legacy = envelope.read({"Sb-Corr": "s-3", "Sb-Cause": "c-3", "Sb-Time": "12.5", "Sb-Schema": "1"})
    assert (legacy.correlation_id, legacy.causation_id, legacy.published_at) == ("s-3", "c-3", 12.5)
    assert envelope.read({envelope.ENVELOPE: "garbage"}) == envelope.Envelope()
    assert envelope.read({envelope.ENVELOPE: "1 s-4 - soon p"}).published_at is None
    for odd in ("nan", "inf", "-inf"):  # not a time: no wait measured from it
        assert envelope.read({envelope.ENVELOPE: f"1 s-4 - {odd} p"}).published_at is None
    # the time in microseconds; float seconds in headers written before
    assert envelope.read({envelope.ENVELOPE: "1 s-5 - 12500000 p"}).published_at == 12.5
    assert envelope.read({envelope.ENVELOPE: "1 s-5 - 12.5 p"}).published_at == 12.5
    assert envelope.read(None) == envelope.Envelope()
