"""orjson writes flat events byte for byte as pydantic does, for every registered type it takes."""

from __future__ import annotations

import itertools
import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, TypeAdapter, ValidationError

import switchboard.workers  # noqa: F401  # registers every pipeline's event types
from switchboard.bus import envelope, flat
from switchboard.schemas import EVENT_TYPES, AudioChunk, DeadLetter, Event

_STRICT = ConfigDict(strict=True)
_TEXT = ['quote " back \\ nul \x00 \x1f line\u2028 é 😀 </script>', "a-1.b:c_2", "a"]
_TIMES = [
    datetime(2026, 12, 5, 23, 59, 59, 123456, tzinfo=UTC),
    datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(1999, 12, 31, 12, 0, tzinfo=timezone(-timedelta(hours=3))),
]


def _candidates(tp: Any) -> list[Any]:
    """Values of ``tp``, trickiest first (2**70 goes past orjson's 64 bits)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        return _candidates(args[0])
    if origin is Literal:
        return list(args)
    if origin in (Union, types.UnionType):
        mixed = itertools.chain.from_iterable(itertools.zip_longest(*map(_candidates, args)))
        return [v for v in mixed if v is not None] + [None]
    if origin is list:
        inner = _candidates(args[0])
        return [inner[:3], inner[-1:], []]
    if origin is dict:
        keys, values = _candidates(args[0]), _candidates(args[1])
        return [dict(zip(keys, values, strict=False)), {}]
    scalars: dict[Any, list[Any]] = {
        str: _TEXT,
        int: [2**70, -(2**40), 7, 1, 0],
        float: [0.1, 1e300, -0.0, 123456789012345680000.0, 1e-7, 2.5, 1.0],
        bool: [True, False],
        type(None): [None],
        datetime: _TIMES,
    }
    return scalars[tp]


def _samples(cls: type[Event], count: int = 4) -> list[Event]:
    """``count`` valid events of ``cls``, each field set to a value its constraints take."""
    options = {}
    for name, field in cls.model_fields.items():
        tp: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        adapter: TypeAdapter[Any] = TypeAdapter(tp, config=_STRICT)
        valid = []
        for value in _candidates(field.annotation):
            try:
                valid.append(adapter.validate_python(value))
            except ValidationError:
                continue
        assert valid or not field.is_required(), f"{cls.__name__}.{name}: no candidate value fits"
        options[name] = valid
    out = []
    for k in range(count):
        values = {name: vs[k % len(vs)] for name, vs in options.items() if vs}
        try:
            out.append(cls.model_validate(values))
        except ValidationError:  # a rule across fields: the plainest values instead
            out.append(cls.model_validate({name: vs[-1] for name, vs in options.items() if vs}))
    return out


def test_flat_types_are_written_as_pydantic_writes_them() -> None:
    taken = [cls for cls in EVENT_TYPES.values() if flat._encoder(cls) is not None]
    assert len(taken) >= 10  # most events are flat: a qualifying rule broken by accident shows here
    for cls in taken:
        for event in _samples(cls):
            assert flat.to_json(event) == event.__pydantic_serializer__.to_json(event), cls.__name__


def test_types_with_bytes_nested_models_or_serializers_are_left_to_pydantic() -> None:
    assert flat._encoder(AudioChunk) is None  # bytes: base64 in pydantic's config
    assert flat._encoder(DeadLetter) is None

    class Custom(Event):
        type: Literal["test.custom"] = "test.custom"
        text: Annotated[str, flat.PlainSerializer(lambda s: s.upper())]

    assert flat._encoder(Custom) is None
    assert b'"HI"' in envelope.encode(Custom(correlation_id="s", text="hi"))

    class Loose(Event):
        model_config = ConfigDict(extra="allow")
        type: Literal["test.loose"] = "test.loose"

    class Constants(Event):
        model_config = ConfigDict(ser_json_inf_nan="constants")
        type: Literal["test.constants"] = "test.constants"
        x: float

    assert flat._encoder(Loose) is None and flat._encoder(Constants) is None
    assert b"NaN" in envelope.encode(Constants(correlation_id="s", x=float("nan")))


def test_values_orjson_refuses_fall_back_to_pydantic() -> None:
    class Big(Event):
        type: Literal["test.big"] = "test.big"
        n: int

    assert flat._encoder(Big) is not None
    event = Big(correlation_id="s", n=2**70)
    assert flat.to_json(event) == event.__pydantic_serializer__.to_json(event)
    assert Big.model_validate_json(envelope.encode(event)).n == 2**70
