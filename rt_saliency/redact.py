"""Keep credentials embedded in URLs (``rtsp://user:pass@host/...``) out of logs and errors."""

from __future__ import annotations

import logging
import re

_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]*)@")


def redact_url(text: str) -> str:
    """Replace the ``user:password@`` part of every URL in ``text`` by ``***@``."""
    return _CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts URL credentials from every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_url(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True
