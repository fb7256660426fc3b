"""Draining on SIGTERM: keep serving for a moment with readiness at 503, then shut down.

A load balancer stops routing to an instance only after its readiness probe fails. A server
that stops accepting connections the moment it gets SIGTERM drops the requests routed to it
in between. With SHUTDOWN_DRAIN_SECONDS > 0 the first SIGTERM turns readiness to 503 and hands
the signal on to the server (which then finishes in-flight requests and stops) that many
seconds later. A second SIGTERM does not wait. Kubernetes users get the same effect from the
preStop sleep in deploy/ and can leave this at 0.
"""

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType

import structlog

logger = structlog.get_logger(__name__)

SignalHandler = Callable[[int, FrameType | None], object]


class Drain:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.draining = False
        self._previous: signal.Handlers | SignalHandler | int | None = None

    def install(self) -> None:
        """Take over SIGTERM from the server; a no-op when draining is off or off-main-thread."""
        if self.seconds <= 0 or threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        self._previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            if self.draining:
                self._hand_on(signum, frame)
                return
            self.draining = True
            # call_soon_threadsafe is the one loop method that is safe inside a signal handler.
            loop.call_soon_threadsafe(self._hand_on_later, loop, signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)

    def uninstall(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def _hand_on_later(
        self, loop: asyncio.AbstractEventLoop, signum: int, frame: FrameType | None
    ) -> None:
        logger.info("draining", seconds=self.seconds)
        loop.call_later(self.seconds, self._hand_on, signum, frame)

    def _hand_on(self, signum: int, frame: FrameType | None) -> None:
        previous = self._previous
        if callable(previous):
            previous(signum, frame)
            return
        # No server handler to call (default or ignored disposition): restore it and re-raise.
        self.uninstall()
        signal.raise_signal(signum)
