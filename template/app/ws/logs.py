"""Keep handshake tickets out of the server's log lines.

uvicorn logs every WebSocket handshake with its query string ("WebSocket /ws?ticket=...").
A ticket is single use and short-lived, but a log is no place for a credential at all.
"""

import logging
import re

TICKET = re.compile(r"(?<=[?&]ticket=)[^&\s\"]+")
REDACTED = "[REDACTED]"


def redact_tickets(text: str) -> str:
    return TICKET.sub(REDACTED, text)


class RedactTicketsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_tickets(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_tickets(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def install_ticket_redaction() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTicketsFilter) for f in logger.filters):
            logger.addFilter(RedactTicketsFilter())
