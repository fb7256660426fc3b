"""The JSON protocol spoken on /ws. Every frame is a JSON object with a `type`.

Client to server:
    {"type": "subscribe", "channel": "room:lobby", "ref": "1"}
    {"type": "unsubscribe", "channel": "room:lobby"}
    {"type": "publish", "channel": "room:lobby", "data": {...}}
    {"type": "presence", "channel": "room:lobby"}
    {"type": "ping"}  /  {"type": "pong"}   (answer the server's ping with a pong)

Server to client:
    welcome, subscribed, unsubscribed, published, presence, pong: replies, echoing `ref`
    message {channel, data, sender}: something published on a subscribed channel
    event {channel, event, data}: a domain event such as item.created
    join / leave {channel, member}: presence changes on a subscribed channel
    ping: answer with pong, or send anything, within WS_IDLE_TIMEOUT seconds
    error {code, detail, ref}: the frame was refused; the connection stays open
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter

Ref = Annotated[str, Field(min_length=1, max_length=64)]
ChannelName = Annotated[str, Field(min_length=1, max_length=200)]


class ClientMessage(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    # Optional correlation id, echoed in the reply (and in an error about this frame).
    ref: Ref | None = None


class Subscribe(ClientMessage):
    type: Literal["subscribe"]
    channel: ChannelName


class Unsubscribe(ClientMessage):
    type: Literal["unsubscribe"]
    channel: ChannelName


class Publish(ClientMessage):
    type: Literal["publish"]
    channel: ChannelName
    data: JsonValue


class PresenceQuery(ClientMessage):
    type: Literal["presence"]
    channel: ChannelName


class Ping(ClientMessage):
    type: Literal["ping"]


class Pong(ClientMessage):
    type: Literal["pong"]


Incoming = Annotated[
    Subscribe | Unsubscribe | Publish | PresenceQuery | Ping | Pong, Field(discriminator="type")
]
incoming: TypeAdapter[Incoming] = TypeAdapter(Incoming)


ErrorCode = Literal[
    "invalid_message",  # not JSON, not an object, unknown type or wrong fields
    "unsupported_frame",  # binary frame: the protocol is text
    "invalid_channel",  # the name matches no channel kind
    "forbidden",  # another user's or tenant's channel, or publishing where only the server may
    "not_subscribed",
    "too_many_subscriptions",
    "unavailable",  # the broadcast backend (Redis) did not answer; try again shortly
]


def frame(type_: str, *, ref: str | None = None, **fields: Any) -> dict[str, Any]:
    """A server frame; `ref` echoes the client's, and is left out when it sent none."""
    return {"type": type_, **fields} | ({"ref": ref} if ref is not None else {})


def error_frame(code: ErrorCode, detail: str, ref: str | None = None) -> dict[str, Any]:
    return frame("error", code=code, detail=detail, ref=ref)
