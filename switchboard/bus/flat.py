"""Flat events written by orjson: an event type whose fields are all JSON
scalars (text, numbers, booleans, null, times) or lists and maps of them is
encoded from its fields by orjson, the same bytes as pydantic's serializer
writes at a third of its cost (bench/bus: the largest single cost of a hop
after validation). Any other type, and any value orjson refuses (an integer
past 64 bits, a lone surrogate), is written by pydantic."""

from __future__ import annotations

import datetime
import functools
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union

import orjson
from pydantic.functional_serializers import PlainSerializer, WrapSerializer

from switchboard.schemas import Event

_SCALARS = (str, int, float, bool, type(None), datetime.datetime)
_OPTIONS = orjson.OPT_UTC_Z  # pydantic writes UTC as "Z"


def to_json(event: Event) -> bytes:
    """The event's JSON, as pydantic's serializer writes it."""
    encoder = _encoder(type(event))
    if encoder is not None:
        try:
            return encoder(event.__dict__, None, _OPTIONS)
        except orjson.JSONEncodeError:
            pass
    data: bytes = event.__pydantic_serializer__.to_json(event)
    return data


@functools.cache
def _encoder(cls: type[Event]) -> Callable[[Any, Any, int], bytes] | None:
    """orjson.dumps when every field of ``cls`` is written as its plain value."""
    decorators = cls.__pydantic_decorators__
    if cls.model_computed_fields or decorators.field_serializers or decorators.model_serializers:
        return None
    config = cls.model_config  # extras live outside __dict__; NaN written other than as null
    if config.get("extra") == "allow" or config.get("ser_json_inf_nan", "null") != "null":
        return None
    if config.get("json_encoders"):
        return None
    for field in cls.model_fields.values():
        if field.exclude or field.serialization_alias or field.alias:
            return None
        if not all(_plain_meta(m) for m in field.metadata) or not _plain(field.annotation):
            return None
    return orjson.dumps


def _plain_meta(meta: object) -> bool:
    return not isinstance(meta, PlainSerializer | WrapSerializer)


def _plain(tp: Any) -> bool:
    """Whether values of ``tp`` serialize as themselves: scalars, literals, unions,
    lists, tuples and str-keyed maps of them."""
    if tp in _SCALARS:
        return True
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        return _plain(args[0]) and all(_plain_meta(m) for m in tp.__metadata__)
    if origin is Literal:
        return all(type(a) in (str, int, bool) for a in args)
    if origin in (Union, types.UnionType, list, tuple):
        return all(a is Ellipsis or _plain(a) for a in args)
    if origin is dict:
        return _plain(args[0]) and _plain(args[1])
    return False
