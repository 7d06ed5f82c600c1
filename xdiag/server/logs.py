"""No secret in any log: share links, API tokens, sessions and IAP assertions masked.

A share link's token is in its URL path (`/s/xds_...`), which every access log writes;
a token can also reach a log in an error message or a header someone adds to the log
format. `redact` masks all of them by their shapes; `RedactingFilter` applies it to a
logger's records (message, arguments and traceback), and is installed on:
- gunicorn's access and error logs by `GunicornLogger` (the image's server: gunicorn's
  `--logger-class`, set in `gunicorn_conf.py`), whatever access-log format is configured;
- our own `xdiag.*` loggers, `xdiag serve`'s access log (`xdiag.access`, cli/httpserver.py)
  included, and werkzeug's (the test servers), by `install()` and `protect()`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_PATTERNS = (
    # /s/<token>: the share link's path, whatever the token looks like.
    (re.compile(r"(/s/)[^/?#\s\"']+"), r"\1<redacted>"),
    # Our secrets by prefix: API tokens, share links, browser sessions.
    (re.compile(r"\b(xd(?:ss|t|s)_)[A-Za-z0-9_-]+"), r"\1<redacted>"),
    # JWTs (IAP assertions): header.payload.signature, base64url.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "<redacted-jwt>"),
)


def redact(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """Formats the record's message with its arguments, then masks secrets in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what is there, masked
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def protect(logger: logging.Logger) -> None:
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def install() -> None:
    """Mask secrets in werkzeug's and every `xdiag*` logger (a filter acts only on the
    records of the logger it is on, not on those its children pass up)."""
    names = ["werkzeug", "xdiag"] + [n for n in logging.root.manager.loggerDict
                                     if n.startswith("xdiag.")]
    for name in names:
        protect(logging.getLogger(name))


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # gunicorn is the `serve` extra: not needed by `xdiag serve`
    _GunicornLogger = object  # type: ignore[assignment,misc]


class GunicornLogger(_GunicornLogger):  # type: ignore[misc,valid-type]
    """gunicorn's logger with secrets masked in the access and error logs."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)  # type: ignore[misc]
        protect(self.error_log)  # type: ignore[attr-defined]
        protect(self.access_log)  # type: ignore[attr-defined]
