"""Bot Framework models to and from JSON, as msrest does it, in a fraction of the time.

msrest (de)serializes an activity generically: for every attribute of every model it looks the
type up by name, runs a key transformer and a regular expression on the JSON key, copies the
attribute description, and so on — about 150 µs for a small Teams message each way, twice per
turn. Here each model class gets a plan once (its attributes, JSON keys and type kinds) and the
common cases run straight from it:

- strings, numbers and booleans of the declared type, nested models, lists of models,
  `object` values made of JSON types (dict, list, str, int, float, bool, None), and
  timestamps in the form Teams writes them (`2026-11-25T10:36:13.1234567Z`, or with an
  offset), read as msrest and isodate read them — the same datetime, with isodate's tzinfo —
  at a tenth of the cost;
- everything else — dates, enums, dictionaries of models, values of an unexpected type, models
  with flattened keys, polymorphism or read-only attributes — is handed to msrest's own method
  for that value or that model, so the result is msrest's, to the object, in every case
  (tests/test_wire.py checks this against msrest on generated activities).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botbuilder.schema import Activity, ConversationReference
from isodate.isotzinfo import build_tzinfo
from msrest.serialization import (
    _FLATTEN,
    Deserializer,
    Model,
    Serializer,
    _decode_attribute_map_key,
    full_restapi_key_transformer,
)

_BASIC = {"str": str, "bool": bool, "int": int, "float": float}
_JSON_SCALARS = (str, int, float, bool)


class _Unplanned(Exception):
    """A value or model the plan does not cover: msrest handles it."""


@dataclass(frozen=True, slots=True)
class _Field:
    """One attribute of a model: its name, JSON key, declared type and how to treat it."""

    attr: str
    key: str
    data_type: str
    kind: str  # "basic", "object", "iso", "model", "models", "additional" or "msrest"
    basic: type | None = None
    model: type | None = None


def _kind(data_type: str, dependencies: dict[str, Any]) -> tuple[str, type | None, type | None]:
    if data_type in _BASIC:
        return "basic", _BASIC[data_type], None
    if data_type == "object":
        return "object", None, None
    if data_type == "iso-8601":
        return "iso", None, None
    if data_type.startswith("[") and data_type.endswith("]"):
        item = dependencies.get(data_type[1:-1])
        if isinstance(item, type) and issubclass(item, Model):
            return "models", None, item
        return "msrest", None, None
    model = dependencies.get(data_type)
    if isinstance(model, type) and issubclass(model, Model):
        return "model", None, model
    return "msrest", None, None


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to read and write one model class: its fields, and the JSON keys they read (any
    other key of a JSON object is an additional property)."""

    fields: tuple[_Field, ...]
    known: frozenset[str]


def _plan(cls: Any, dependencies: dict[str, Any]) -> _Plan | None:
    """The plan of `cls`, or None when msrest must handle the whole model."""
    if (
        cls.is_xml_model()
        or getattr(cls, "_subtype_map", None)
        or any(
            config.get("readonly") or config.get("constant")
            for config in getattr(cls, "_validation", {}).values()
        )
    ):
        return None
    fields = []
    for attr, description in cls._attribute_map.items():
        key = description["key"]
        if attr == "additional_properties":
            if key != "":
                return None  # a real "additionalProperties" key: msrest's special case
            fields.append(_Field(attr, "", description["type"], "additional"))
            continue
        if len(_FLATTEN.split(key)) != 1:
            return None
        kind, basic, model = _kind(description["type"], dependencies)
        fields.append(
            _Field(attr, _decode_attribute_map_key(key), description["type"], kind, basic, model)
        )
    known = frozenset(field.key for field in fields if field.kind != "additional")
    return _Plan(tuple(fields), known)


class _Plans:
    """The plans of one (de)serializer's models, each built at its first use."""

    def __init__(self, dependencies: dict[str, Any]) -> None:
        self._dependencies = dependencies
        self._plans: dict[type, _Plan | None] = {}

    def of(self, cls: type) -> _Plan | None:
        try:
            return self._plans[cls]
        except KeyError:
            plan = self._plans[cls] = _plan(cls, self._dependencies)
            return plan


class FastSerializer(Serializer):
    """msrest's `Serializer` with a planned path for `body(model, type)`.

    `body()` first re-reads a model through a `Deserializer` (turning dicts given for model
    attributes into models) and validates it; the planned path applies only where that re-read
    changes nothing (every model attribute holds a model) and validation is off, and falls back
    to msrest otherwise.
    """

    def __init__(self, classes: dict[str, Any] | None = None) -> None:
        super().__init__(classes)
        self._plans = _Plans(self.dependencies)

    def body(self, data: Any, data_type: str, **kwargs: Any) -> Any:
        if (
            kwargs
            or self.client_side_validation
            or self.key_transformer is not full_restapi_key_transformer
            or not isinstance(data, Model)
            or data_type not in self.dependencies
        ):
            return super().body(data, data_type, **kwargs)
        try:
            return self._model(data)
        except _Unplanned:
            return super().body(data, data_type, **kwargs)

    def _model(self, model: Any) -> dict[str, Any]:
        plan = self._plans.of(model.__class__)
        if plan is None:
            raise _Unplanned
        serialized: dict[str, Any] = {}
        for field in plan.fields:
            try:
                value = getattr(model, field.attr)
            except AttributeError:
                raise _Unplanned from None
            if field.kind == "additional":
                if value is not None:
                    serialized.update(value)
                continue
            if value is None or field.key in serialized:
                continue
            try:
                serialized[field.key] = self._value(field, value)
            except ValueError:
                continue  # msrest leaves out an attribute it cannot serialize
        return serialized

    def _value(self, field: _Field, value: Any) -> Any:
        kind = field.kind
        if kind == "basic":
            if type(value) is field.basic:
                return value
        elif kind == "object":
            return self._object(value)
        elif kind == "model":
            if isinstance(value, Model):
                return self._model(value)
            raise _Unplanned
        elif kind == "models":
            if type(value) is list:
                items: list[Any] = []
                for item in value:
                    if item is None:
                        items.append(None)
                    elif isinstance(item, Model):
                        items.append(self._model(item))
                    else:
                        raise _Unplanned
                return items
            raise _Unplanned
        return self.serialize_data(value, field.data_type)

    def _object(self, value: Any) -> Any:
        """msrest's `serialize_object` for JSON types, msrest's own for anything else."""
        kind = type(value)
        if kind in _JSON_SCALARS or value is None:
            return value
        if kind is dict and all(type(key) is str for key in value):
            serialized: dict[str, Any] = {}
            for key, item in value.items():
                try:
                    serialized[key] = self._object(item)
                except ValueError:
                    serialized[key] = None
            return serialized
        if kind is list:
            items = []
            for item in value:
                try:
                    items.append(self._object(item))
                except ValueError:
                    continue
            return items
        return self.serialize_object(value)


class FastDeserializer(Deserializer):
    """msrest's `Deserializer` with a planned path for JSON dicts read into models."""

    def __init__(self, classes: dict[str, Any] | None = None) -> None:
        super().__init__(classes)
        self._plans = _Plans(self.dependencies)

    def _deserialize(self, target_obj: Any, data: Any) -> Any:
        """msrest's step for every model it reads (answers, nested models): planned for a JSON
        dict read into a model."""
        if type(data) is dict and self.key_extractors == _DEFAULT_EXTRACTORS:
            cls = self.dependencies.get(target_obj) if isinstance(target_obj, str) else target_obj
            if isinstance(cls, type) and issubclass(cls, Model):
                try:
                    return self._model(cls, data)
                except _Unplanned:
                    pass
        return super()._deserialize(target_obj, data)

    def read(self, model: type, data: Any) -> Any:
        """`model.deserialize(data)`, as msrest would return it."""
        if type(data) is not dict or self.key_extractors != _DEFAULT_EXTRACTORS:
            return self(model.__name__, data)
        try:
            return self._model(model, data)
        except _Unplanned:
            return self(model.__name__, data)

    def _model(self, cls: Any, data: dict[str, Any]) -> Any:
        plan = self._plans.of(cls)
        if plan is None:
            raise _Unplanned
        attrs: dict[str, Any] = {}
        for field in plan.fields:
            if field.kind != "additional":
                raw = data.get(field.key)
                attrs[field.attr] = None if raw is None else self._value(field, raw)
        # msrest's `_instantiate_model`, for a model the plan covers (no read-only, constant or
        # polymorphic attributes to set aside); a constructor that refuses is msrest's to report.
        try:
            model = cls(**attrs)
        except TypeError:
            raise _Unplanned from None
        if self.additional_properties_detection:
            additional = {key: data[key] for key in set(data) - plan.known}
            if additional:
                model.additional_properties = additional
        return model

    def _value(self, field: _Field, raw: Any) -> Any:
        kind = field.kind
        if kind == "basic":
            if type(raw) is field.basic:
                return raw
        elif kind == "object":
            try:
                return _copy_json(raw)
            except _Unplanned:
                pass
        elif kind == "iso":
            if type(raw) is str:
                moment = _iso_datetime(raw)
                if moment is not None:
                    return moment
        elif kind == "model":
            if type(raw) is dict:
                return self._model(field.model, raw)
        elif kind == "models" and type(raw) is list:
            return [
                None
                if item is None
                else self._model(field.model, item)
                if type(item) is dict
                else self.deserialize_data(item, field.data_type[1:-1])
                for item in raw
            ]
        return self.deserialize_data(raw, field.data_type)


#: A timestamp as Teams writes it: date, time, up to any digits of a second, `Z` or an offset.
_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|([+-])(\d\d):(\d\d))",
    re.ASCII,
)


def _iso_datetime(text: str) -> datetime | None:
    """msrest's `deserialize_iso(text)` for the forms `_ISO` matches, None for anything else
    (msrest then reads it, or refuses it, itself).

    msrest upper-cases the text, keeps six digits of a second and hands it to isodate, which
    reads the digits exactly and gives `Z` its `UTC` and an offset a `FixedOffset` named as
    written (`build_tzinfo`, used here too); then it refuses a moment whose UTC year is outside
    1-9999, or whose offset is a day or more (checked here the same way).
    """
    match = _ISO.fullmatch(text.upper())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone, sign, zone_hour, zone_minute = (
        match.groups()
    )
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "")[:6].ljust(6, "0")),
            build_tzinfo(zone, sign, int(zone_hour or 0), int(zone_minute or 0)),
        )
        utc_year = moment.utctimetuple().tm_year
    except (ValueError, OverflowError):
        return None  # e.g. the 31st of a short month, a leap second: msrest says what it is
    return moment if 1 <= utc_year <= 9999 else None


def _copy_json(value: Any) -> Any:
    """What msrest's `deserialize_object` returns for JSON data: a deep copy."""
    kind = type(value)
    if kind in _JSON_SCALARS or value is None:
        return value
    if kind is dict:
        return {key: _copy_json(item) for key, item in value.items()}
    if kind is list:
        return [_copy_json(item) for item in value]
    raise _Unplanned


_DEFAULT_EXTRACTORS = Deserializer().key_extractors
_ACTIVITY_READER = FastDeserializer(Activity._infer_class_models())
_REFERENCE_WRITER = FastSerializer(ConversationReference._infer_class_models())
# As the SDK's `serialize()`: it does not validate either.
_REFERENCE_WRITER.client_side_validation = False


def activity_from_json(body: dict[str, Any]) -> Activity:
    """`Activity().deserialize(body)`: the same activity, built from its plan."""
    return _ACTIVITY_READER.read(Activity, body)


def reference_json(activity: Activity) -> dict[str, Any]:
    """`TurnContext.get_conversation_reference(activity).serialize()` without `activityId`
    (which activity last spoke is no part of where the chat is): the SDK deep-copies the
    activity's accounts and serializes them generically on every turn; this reads them as
    they are through a planned serializer."""
    reference = ConversationReference(
        user=activity.from_property,
        bot=activity.recipient,
        conversation=activity.conversation,
        channel_id=activity.channel_id,
        locale=activity.locale,
        service_url=activity.service_url,
    )
    written: dict[str, Any] = _REFERENCE_WRITER.body(reference, "ConversationReference")
    return written


_SAMPLE = {
    "type": "message",
    "id": "1:warm-up",
    "timestamp": "2024-01-01T00:00:00.000Z",
    "localTimestamp": "2024-01-01T01:00:00.000+01:00",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
    "channelId": "msteams",
    "from": {"id": "29:guest", "name": "Guest", "aadObjectId": "00000000-0000-0000-0000-0"},
    "conversation": {"conversationType": "personal", "id": "a:1warm-up"},
    "recipient": {"id": "28:bot", "name": "Bot"},
    "entities": [{"type": "clientInfo", "locale": "en-US"}],
    "channelData": {"tenant": {"id": "00000000-0000-0000-0000-000000000000"}},
    "text": "warm-up",
}


def warm_up() -> None:
    """What the SDK otherwise does during the first turn, on the event loop: call this once, in
    a worker thread, at start-up.

    msrest's first client runs `uname` in a subprocess (`platform.platform()`, for its user
    agent), isodate compiles its regular expressions at the first timestamp, and the plans of
    an inbound activity are built at the first read: about 15 ms together.
    """
    from msrest.pipeline.universal import UserAgentPolicy

    UserAgentPolicy()
    activity_from_json(_SAMPLE)
