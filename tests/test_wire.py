"""The planned (de)serializers give msrest's result, to the object, on generated activities."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes, Attachment, ChannelAccount, Entity
from botframework.connector import models
from hypothesis import given, settings
from hypothesis import strategies as st
from msrest import Deserializer, Serializer
from msrest.exceptions import DeserializationError, SerializationError
from msrest.serialization import Model

from bots.edge.wire import FastDeserializer, FastSerializer, activity_from_json, reference_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
#: Mostly the right type, sometimes anything (msrest converts, or both must fail alike).
TEXT = st.text(max_size=12) | JSON
STAMP = st.sampled_from(
    [
        "2026-11-25T10:36:13.123Z",
        "2026-11-25T10:36:13.1234567+01:00",
        "2026-11-25T10:36:13Z",
        "not a date",
    ]
)


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


ACCOUNT = optional(
    id=TEXT, name=st.text(max_size=12), aadObjectId=st.text(max_size=8), role=TEXT, extra=JSON
)
ENTITY = optional(type=st.sampled_from(["clientInfo", "mention"]), locale=TEXT, mentioned=ACCOUNT)
ATTACHMENT = optional(contentType=st.text(max_size=12), content=JSON, name=TEXT)
TEAMS_ACTIVITY = optional(
    type=st.sampled_from(["message", "conversationUpdate", "invoke"]) | TEXT,
    id=TEXT,
    timestamp=STAMP,
    localTimestamp=STAMP,
    serviceUrl=st.text(max_size=20),
    channelId=st.just("msteams"),
    textFormat=TEXT,
    **{"from": ACCOUNT},
    conversation=optional(id=TEXT, conversationType=TEXT, tenantId=TEXT, isGroup=JSON),
    recipient=ACCOUNT,
    membersAdded=st.lists(ACCOUNT | st.none(), max_size=3) | JSON,
    historyDisclosed=JSON,
    text=TEXT,
    attachments=st.lists(ATTACHMENT, max_size=2),
    entities=st.lists(ENTITY, max_size=2) | JSON,
    channelData=JSON,
    value=JSON,
    name=TEXT,
    listenFor=st.lists(st.text(max_size=4), max_size=2) | JSON,
    somethingNew=JSON,
)


def read(reader: Any, body: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", reader(body)
    except DeserializationError as error:
        return "error", type(error)


@settings(max_examples=300, deadline=None)
@given(TEAMS_ACTIVITY)
def test_reading_an_activity_is_msrest_reading_it(body: dict[str, Any]) -> None:
    expected = read(lambda b: Activity().deserialize(b), body)
    planned = FastDeserializer(Activity._infer_class_models())
    for actual in (read(activity_from_json, body), read(lambda b: planned("Activity", b), body)):
        assert actual[0] == expected[0]
        if expected[0] == "ok":
            assert vars(actual[1]) == vars(expected[1])
            assert actual[1].serialize() == expected[1].serialize()


CLASSES = {name: cls for name, cls in vars(models).items() if isinstance(cls, type)}


def write(serializer: Serializer, activity: Activity) -> tuple[str, Any]:
    try:
        return "ok", serializer.body(copy.deepcopy(activity), "Activity")
    except SerializationError as error:
        return "error", type(error)


def tweak(activity: Activity, draw: st.DrawFn) -> Activity:
    """What bots do to an activity before sending it that JSON cannot express."""
    if draw(st.booleans()):
        activity.type = ActivityTypes.message
    if draw(st.booleans()):
        activity.timestamp = dt.datetime(2026, 11, 25, 10, 36, tzinfo=dt.UTC)
    if draw(st.booleans()):
        # msrest turns a dict into the model (reading attribute names too) before writing it
        activity.recipient = {"id": "29:1a", "aad_object_id": "b", "unknown": 1}
    if draw(st.booleans()):
        activity.attachments = [
            Attachment(content_type="x", content={"when": dt.datetime(2026, 1, 1), "n": 1}),
            None,
        ]
    if draw(st.booleans()):
        entity = Entity(type="clientInfo")
        entity.additional_properties = {"locale": "en-GB", "type": "overridden?"}
        activity.entities = [entity]
    if draw(st.booleans()):
        activity.from_property = ChannelAccount(id="28:bot", name="Bot")
    return activity


@st.composite
def outbound(draw: st.DrawFn) -> Activity:
    body = draw(TEAMS_ACTIVITY)
    try:
        activity = Activity().deserialize(body)
    except DeserializationError:
        activity = Activity(type="message", text="fallback")
    return tweak(activity, draw)


@settings(max_examples=300, deadline=None)
@given(outbound())
def test_writing_an_activity_is_msrest_writing_it(activity: Activity) -> None:
    stock = Serializer(CLASSES)
    fast = FastSerializer(CLASSES)
    fast.client_side_validation = False
    assert write(fast, activity) == write(stock, activity)


def test_a_typical_reply_takes_the_planned_path() -> None:
    reply = Activity(
        type="message",
        text="What else do you need?",
        from_property=ChannelAccount(id="28:bot", name="Crossdesk"),
        recipient=ChannelAccount(id="29:1guest", name="Megan Bowen"),
        reply_to_id="1:abc",
        attachments=[Attachment(content_type="application/json", content={"a": [1, None]})],
    )
    fast = FastSerializer(CLASSES)
    fast.client_side_validation = False
    # The planned path never builds a Deserializer (msrest's body() always does).
    built = []
    original = Serializer.body

    def spy(self: Serializer, *args: Any, **kwargs: Any) -> Any:
        built.append(args)
        return original(self, *args, **kwargs)

    Serializer.body = spy
    try:
        result = fast.body(reply, "Activity")
    finally:
        Serializer.body = original
    assert built == []
    assert result == Serializer(CLASSES).body(reply, "Activity")
    assert result["from"] == {"id": "28:bot", "name": "Crossdesk"}


class Flexible(Model):  # type: ignore[misc]
    """A model using what the Bot Framework schema does not: additional properties."""

    _attribute_map = {
        "name": {"key": "name", "type": "str"},
        "additional_properties": {"key": "", "type": "{object}"},
        "when": {"key": "when", "type": "iso-8601"},
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = kwargs.get("name")
        self.when = kwargs.get("when")


class Flattened(Model):  # type: ignore[misc]
    """A model with a flattened key, which the plan leaves to msrest."""

    _attribute_map = {"inner": {"key": "properties.inner", "type": "str"}}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inner = kwargs.get("inner")


@pytest.mark.parametrize(
    ("cls", "data"),
    [
        (Flexible, {"name": "n", "when": "2026-01-01T00:00:00Z", "extra": {"a": 1}}),
        (Flattened, {"properties": {"inner": "x"}}),
    ],
)
def test_models_outside_the_schema_match_msrest_too(cls: type, data: dict[str, Any]) -> None:
    classes = {cls.__name__: cls}
    reader = FastDeserializer(classes)
    read_back = reader.read(cls, data)
    assert vars(read_back) == vars(Deserializer(classes)(cls.__name__, data))
    fast = FastSerializer(classes)
    fast.client_side_validation = False
    assert fast.body(read_back, cls.__name__) == Serializer(classes).body(
        copy.deepcopy(read_back), cls.__name__
    )


@settings(max_examples=300, deadline=None)
@given(TEAMS_ACTIVITY)
def test_a_chats_reference_is_the_sdks_without_the_activity_id(body: dict[str, Any]) -> None:
    try:
        activity = activity_from_json(body)
    except DeserializationError:
        return
    expected = TurnContext.get_conversation_reference(activity).serialize()
    expected.pop("activityId", None)
    assert reference_json(activity) == expected


STAMPS = st.builds(
    "{}-{:02}-{:02}{}{:02}:{:02}:{:02}{}{}".format,
    st.sampled_from([1, 2, 999, 2026, 9998, 9999]).map("{:04}".format),
    st.integers(0, 13),
    st.integers(0, 32),
    st.sampled_from(["T", "t", " "]),
    st.integers(0, 25),
    st.integers(0, 60),
    st.integers(0, 61),
    st.sampled_from(["", "."]) | st.text("0123456789", min_size=1, max_size=9).map(".{}".format),
    st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+01:00", "-05:30", "+14:00", "+0100"])
    | st.builds(
        "{}{:02}:{:02}".format, st.sampled_from("+-"), st.integers(0, 25), st.integers(0, 61)
    ),
)


@settings(max_examples=500, deadline=None)
@given(STAMPS)
def test_a_timestamp_is_read_as_msrest_and_isodate_read_it(stamp: str) -> None:
    """The same datetime, the same kind of tzinfo with the same offset and name, or the same
    refusal."""
    expected = read(lambda b: Activity().deserialize(b), {"timestamp": stamp})
    actual = read(activity_from_json, {"timestamp": stamp})
    assert actual[0] == expected[0]
    if expected[0] == "ok":
        mine, theirs = actual[1].timestamp, expected[1].timestamp
        assert mine == theirs
        assert type(mine.tzinfo) is type(theirs.tzinfo)
        assert (mine.utcoffset(), mine.tzname()) == (theirs.utcoffset(), theirs.tzname())
        assert actual[1].serialize() == expected[1].serialize()
