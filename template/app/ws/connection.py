"""One client connection: a receive loop, a send loop with a bounded queue, and heartbeats.

Nothing another connection does can block this one: broadcasts only put frames in its
queue, and only its own send loop waits on its socket. If that queue fills up the client is
too slow and is disconnected (1013) rather than buffered without bound.
"""

import asyncio
import contextlib
import json
import secrets
import time
from typing import Any

import structlog
from pydantic import ValidationError
from redis.exceptions import RedisError
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app.core.principal import Principal
from app.ws.channels import Channel, ChannelError, resolve
from app.ws.hub import (
    GOING_AWAY,
    MESSAGE_TOO_BIG,
    POLICY_VIOLATION,
    TRY_AGAIN_LATER,
    Hub,
)
from app.ws.protocol import (
    Incoming,
    Ping,
    Pong,
    PresenceQuery,
    Publish,
    Subscribe,
    Unsubscribe,
    error_frame,
    frame,
    incoming,
)

logger = structlog.get_logger(__name__)

CLEANUP_TIMEOUT_SECONDS = 5.0


class TokenBucket:
    """`rate` messages per second on average, with bursts of up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Connection:
    def __init__(
        self, websocket: WebSocket, hub: Hub, principal: Principal | None, tenant_id: str | None
    ) -> None:
        settings = hub.settings
        self.id = secrets.token_hex(8)
        self.websocket = websocket
        self.hub = hub
        self.principal = principal
        self.tenant_id = tenant_id
        self.member = {"id": self.id, "user": principal.subject if principal else None}
        self.finished = asyncio.Event()
        self._settings = settings
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=settings.send_queue_size)
        self._channels: dict[str, Channel] = {}
        self._bucket = TokenBucket(settings.messages_per_second, settings.message_burst)
        self._close_requested = asyncio.Event()
        self._close: tuple[int, str] = (1000, "")
        self._cleanup: asyncio.Task[None] | None = None

    # Called from anywhere in this process -----------------------------------------------

    def enqueue(self, text: str) -> None:
        if self._close_requested.is_set():
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            logger.warning("ws_slow_consumer_disconnected", connection=self.id)
            self.close(TRY_AGAIN_LATER, "too slow: send queue overflow")

    def close(self, code: int, reason: str) -> None:
        """Ask the connection to close; the first reason given wins."""
        if not self._close_requested.is_set():
            self._close = (code, reason)
            self._close_requested.set()

    # The connection's life -------------------------------------------------------------

    async def serve(self) -> None:
        """Run an accepted connection until either side ends it."""
        self.hub.register(self)
        self.send(frame("welcome", connection_id=self.id, user=self.member["user"]))
        loops = [
            asyncio.create_task(self._receive_loop()),
            asyncio.create_task(self._send_loop()),
            asyncio.create_task(self._heartbeat_loop()),
            asyncio.create_task(self._close_requested.wait()),
        ]
        try:
            await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # No more deliveries, at once and without awaiting.
            for loop in loops:
                loop.cancel()
            channels, self._channels = list(self._channels.values()), {}
            for channel in channels:
                self.hub.unsubscribe(self, channel)
            # The rest in a task of its own: the others should hear of the leave even when
            # the server cancels this one (as some do right after a disconnect). A shielded
            # anyio scope is not enough: its host task keeps receiving the cancellation.
            self._cleanup = asyncio.create_task(self._clean_up(loops, channels))
            await asyncio.shield(self._cleanup)

    async def _clean_up(self, loops: list["asyncio.Task[Any]"], channels: list[Channel]) -> None:
        try:
            async with asyncio.timeout(CLEANUP_TIMEOUT_SECONDS):
                await asyncio.gather(*loops, return_exceptions=True)
                await self._announce_leaving(channels)
                await self._close_socket()
        except TimeoutError:
            logger.warning("ws_cleanup_timed_out", connection=self.id)
        finally:
            self.finished.set()
            # Registered until now so that shutdown (Hub.close_all) waits for this cleanup.
            self.hub.unregister(self)

    async def _close_socket(self) -> None:
        if self.websocket.application_state != WebSocketState.CONNECTED:
            return
        if self.websocket.client_state != WebSocketState.CONNECTED:
            return
        code, reason = self._close
        # The peer may be gone already; there is nobody left to tell.
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
            await self.websocket.close(code, reason)

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await asyncio.wait_for(
                    self.websocket.receive(), timeout=self._settings.idle_timeout
                )
            except TimeoutError:
                self.close(GOING_AWAY, "idle timeout")
                return
            if message["type"] == "websocket.disconnect":
                self.close(message.get("code", 1000), "")
                return
            await self._on_frame(message)
            if self._close_requested.is_set():
                return

    async def _on_frame(self, message: Message) -> None:
        text: str | None = message.get("text")
        size = len(text.encode()) if text is not None else len(message.get("bytes") or b"")
        if size > self._settings.max_message_bytes:
            limit = self._settings.max_message_bytes
            self.close(MESSAGE_TOO_BIG, f"messages are limited to {limit} bytes")
            return
        if not self._bucket.take():
            logger.warning("ws_rate_limited", connection=self.id)
            self.close(POLICY_VIOLATION, "message rate limit exceeded")
            return
        if text is None:
            self.send(error_frame("unsupported_frame", "send JSON text frames, not binary"))
            return
        try:
            parsed = incoming.validate_json(text)
        except ValidationError as error:
            self.send(error_frame("invalid_message", _describe(error)))
            return
        try:
            await self._handle(parsed)
        except ChannelError as error:
            self.send(error_frame(error.code, error.detail, parsed.ref))
        except RedisError as error:
            logger.warning("ws_backend_unavailable", error=str(error))
            self.send(error_frame("unavailable", "try again shortly", parsed.ref))

    async def _send_loop(self) -> None:
        while True:
            text = await self._queue.get()
            try:
                await self.websocket.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):
                return

    async def _heartbeat_loop(self) -> None:
        interval = self._settings.ping_interval
        revalidate_every = self._settings.revalidate_interval
        next_revalidation = time.monotonic() + revalidate_every
        while True:
            await asyncio.sleep(interval)
            self.send(frame("ping"))
            await self._refresh_presence()
            if time.monotonic() >= next_revalidation:
                next_revalidation = time.monotonic() + revalidate_every
                if not await self._still_valid():
                    self.close(POLICY_VIOLATION, "session ended")
                    return

    async def _still_valid(self) -> bool:
        check = self.hub.principal_check
        if check is None or self.principal is None:
            return True
        return await check(self.principal, self.websocket.scope.get("state", {}))

    async def _refresh_presence(self) -> None:
        for channel in self._channels.values():
            try:
                await self.hub.presence.join(channel.key, self.id, self.member)
            except RedisError as error:
                logger.warning("ws_presence_refresh_failed", error=str(error))

    def send(self, message: dict[str, Any]) -> None:
        self.enqueue(json.dumps(message))

    # Messages --------------------------------------------------------------------------

    async def _handle(self, message: Incoming) -> None:
        match message:
            case Subscribe():
                await self._subscribe(self._resolve(message.channel), message.ref)
            case Unsubscribe():
                await self._unsubscribe(self._resolve(message.channel), message.ref)
            case Publish():
                channel = self._resolve(message.channel)
                if not channel.publishable:
                    raise ChannelError("forbidden", "only the server publishes to item channels")
                await self.hub.publish(
                    channel,
                    frame("message", channel=channel.name, data=message.data, sender=self.member),
                )
                self.send(frame("published", channel=channel.name, ref=message.ref))
            case PresenceQuery():
                channel = self._resolve(message.channel)
                members = await self.hub.presence.members(channel.key)
                self.send(frame("presence", channel=channel.name, members=members, ref=message.ref))
            case Ping():
                self.send(frame("pong", ref=message.ref))
            case Pong():
                pass

    def _resolve(self, name: str) -> Channel:
        return resolve(name, self.principal, self.tenant_id)

    async def _subscribe(self, channel: Channel, ref: str | None) -> None:
        if channel.name not in self._channels:
            if len(self._channels) >= self._settings.max_subscriptions:
                raise ChannelError(
                    "too_many_subscriptions",
                    f"at most {self._settings.max_subscriptions} channels per connection",
                )
            self._channels[channel.name] = channel
            self.hub.subscribe(self, channel)
            await self.hub.presence.join(channel.key, self.id, self.member)
            await self.hub.publish(channel, frame("join", channel=channel.name, member=self.member))
        members = await self.hub.presence.members(channel.key)
        self.send(frame("subscribed", channel=channel.name, members=members, ref=ref))

    async def _unsubscribe(self, channel: Channel, ref: str | None) -> None:
        if self._channels.pop(channel.name, None) is None:
            raise ChannelError("not_subscribed", f"not subscribed to {channel.name}")
        await self._leave(channel)
        self.send(frame("unsubscribed", channel=channel.name, ref=ref))

    async def _leave(self, channel: Channel) -> None:
        self.hub.unsubscribe(self, channel)
        await self.hub.presence.leave(channel.key, self.id)
        await self.hub.publish(channel, frame("leave", channel=channel.name, member=self.member))

    async def _announce_leaving(self, channels: list[Channel]) -> None:
        for channel in channels:
            try:
                await self.hub.presence.leave(channel.key, self.id)
                await self.hub.publish(
                    channel, frame("leave", channel=channel.name, member=self.member)
                )
            except RedisError as error:
                # Presence entries expire on their own; the others just miss a leave event.
                logger.warning("ws_leave_failed", error=str(error))


def _describe(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]
