"""Structured JSON logs without personal data: one JSON object per line, with a redacting filter.

``configure(settings)`` is called once by ``aduan serve`` and ``aduan worker``. Every record goes
through :class:`RedactFilter`, which masks phone numbers, e-mail addresses and URN paths that
slipped into a message (UU 27/2022: logs must never carry personal data; code logs ids, channels,
counts and reasons only, this filter is the safety net). Libraries that log request bodies or
SQL parameters (SQLAlchemy, httpx, twilio) are held at WARNING, because their INFO lines carry
the citizens' numbers and message text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import logging.config
import re
from collections.abc import Mapping
from typing import IO, Any

#: Loggers that print payloads, SQL parameters or HTTP bodies at INFO/DEBUG: never below WARNING.
QUIET_LOGGERS = (
    "sqlalchemy",
    "httpx",
    "httpcore",
    "twilio",
    "telegram",
    "tweepy",
    "urllib3",
    "aiosmtpd",
    "imapclient",
    "multipart",
    "python_multipart",
    "hpack",
    "asyncio",
    "alembic",
)

#: What a redacted value is replaced by.
MARK = "[redacted]"

# URN schemes used by Aduan's senders (channels/urns.py); the path after the scheme is personal.
_URN = re.compile(r"\b(tel|whatsapp|mailto|telegram|twitter|instagram|sms|web|x):[^\s'\",;)\]}>]+", re.I)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# Indonesian numbers: +62…, 62…, 08… (mobile) and 0xx landlines, with spaces, dots or dashes inside;
# plus any other E.164 number (+ and 8–15 digits).
_PHONE = re.compile(
    r"(?<![\w+.])(?:\+62|62|0)[\s\-]?8\d(?:[\s\-]?\d){6,11}(?![\w.])"  # mobile: 08…, +628…, 628…
    r"|(?<![\w+.])\(?0[2-9]\d{1,3}\)?[\s\-]?\d{5,8}(?![\w.])"  # landline: (0264) 200123
    r"|(?<![\w+])\+\d(?:[\s.\-]?\d){7,14}(?!\w)"  # any other E.164 number
)

#: Attributes every LogRecord has; anything else was passed with ``extra=`` and may be logged.
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    """Mask URN paths, e-mail addresses and phone numbers in ``text``."""
    text = _URN.sub(lambda m: f"{m.group(1)}:{MARK}", text)
    text = _EMAIL.sub(MARK, text)
    return _PHONE.sub(MARK, text)


def _safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))[:500]


class RedactFilter(logging.Filter):
    """Rewrite each record so its message, extras and traceback carry no phone, e-mail or URN."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place and let the record through."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record (nor print its args)
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None  # the redacted text above replaces the raw traceback
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and not key.startswith("_"):
                setattr(record, key, _safe(value))
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message, process and safe extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the JSON line of ``record``."""
        doc: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in doc:
                doc[key] = _safe(value)
        if record.exc_info:
            doc["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            doc["exception"] = redact(record.exc_text)
        return json.dumps(doc, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """A readable one-line format for a terminal (``ADUAN_LOG_FORMAT=text``), redacted as well."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Return the redacted text line of ``record``."""
        return redact(super().format(record))


def logging_dict(level: str = "INFO", fmt: str = "json", stream: str = "ext://sys.stderr") -> dict[str, Any]:
    """Return the ``logging.config.dictConfig`` document Aduan runs with (uvicorn gets the same)."""
    formatter = "ops.logging.JsonFormatter" if fmt == "json" else "ops.logging.TextFormatter"
    quiet = {name: {"level": "WARNING"} for name in QUIET_LOGGERS}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "ops.logging.RedactFilter"}},
        "formatters": {"aduan": {"()": formatter}},
        "handlers": {
            "aduan": {
                "class": "logging.StreamHandler",
                "stream": stream,
                "formatter": "aduan",
                "filters": ["redact"],
            },
        },
        "loggers": quiet
        | {
            # uvicorn's own loggers go to the same handler; the access log is off (it holds URLs).
            "uvicorn": {"handlers": ["aduan"], "level": "WARNING", "propagate": False},
            "uvicorn.error": {"level": "WARNING"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["aduan"], "level": level},
    }


def options(env: Mapping[str, str], section: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """Return ``(level, format)`` from ``ADUAN_LOG_LEVEL``/``ADUAN_LOG_FORMAT`` or a ``[logging]`` table."""
    section = section or {}
    level = str(env.get("ADUAN_LOG_LEVEL") or section.get("level") or "INFO").upper()
    fmt = str(env.get("ADUAN_LOG_FORMAT") or section.get("format") or "json").lower()
    if level not in logging.getLevelNamesMapping():
        level = "INFO"
    return level, ("text" if fmt == "text" else "json")


def configure(settings: Any, *, stream: IO[str] | None = None) -> None:
    """Send every log record of this process (and of uvicorn's workers) through the JSON handler."""
    env = getattr(settings, "env", {}) or {}
    table = getattr(settings, "logging", None)
    level, fmt = options(env, dataclasses.asdict(table) if table is not None else {})
    doc = logging_dict(level, fmt)
    if stream is not None:
        doc["handlers"]["aduan"]["stream"] = stream
    logging.config.dictConfig(doc)
    if stream is None:
        _share_with_uvicorn(doc)


def _share_with_uvicorn(doc: dict[str, Any]) -> None:
    """Make ``uvicorn.run`` apply the same document in the parent and in every worker it spawns.

    uvicorn applies its default ``LOGGING_CONFIG`` (a module-level dict it pickles to workers);
    replacing its content in place means the workers log JSON through the redacting filter too.
    """
    try:
        from uvicorn import config as uv_config
    except ImportError:  # pragma: no cover - uvicorn is a dependency
        return
    uv_config.LOGGING_CONFIG.clear()
    uv_config.LOGGING_CONFIG.update(json.loads(json.dumps(doc)))


def reset() -> None:
    """Remove Aduan's handler from the root logger (tests restore the previous state with this)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler.formatter, JsonFormatter | TextFormatter):
            root.removeHandler(handler)
