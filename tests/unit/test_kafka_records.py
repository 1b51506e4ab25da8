"""A Kafka record's headers and value as the processor gets them."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord

from switchboard.bus.kafka.client import headers_of, value_of


def record(headers: object, value: bytes | None = b"{}") -> ConsumerRecord:
    return ConsumerRecord("t", 0, 7, 0, 0, b"k", value, None, 0, 0, headers)


def test_headers_are_text_and_never_stop_a_message() -> None:
    assert headers_of(record((("a", b"1"), ("b", "é".encode())))) == {"a": "1", "b": "é"}
    # not UTF-8, a header without a value, a record without headers: read, not raised
    assert headers_of(record((("a", b"\xff1"), ("b", None)))) == {"a": "\ufffd1", "b": ""}
    assert headers_of(record(None)) == {} and headers_of(record(())) == {}


def test_a_record_without_a_value_reads_as_empty() -> None:
    assert value_of(record((), None)) == b"" and value_of(record((), b"x")) == b"x"
