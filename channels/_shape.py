"""Shape checks for provider JSON: each raises UnsupportedPayload naming the path of the bad value.

Providers' documents are nested objects and lists that a forged, truncated or future payload may
fill with ``null``, numbers or strings where an object is expected. ``parse`` must then raise
UnsupportedPayload with a reason an officer can read (``channels/base.py`` contract), e.g.
``entry[0].changes[0].value.messages[1] must be an object``, never TypeError/AttributeError.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from channels.base import UnsupportedPayload


def json_document(body: bytes) -> Any:
    """Return the JSON value of a body, or raise UnsupportedPayload saying plainly what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsupportedPayload("not a JSON document: the body is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnsupportedPayload(
            f"not a JSON document: it breaks off or is malformed at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise UnsupportedPayload("not a JSON document Aduan reads: nested too deeply") from None


def kind(value: Any) -> str:
    """Return the JSON name of the type of ``value`` (for reasons: 'null', 'a list', …)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def obj(value: Any, path: str) -> dict[str, Any]:
    """Return ``value`` when it is an object, else raise UnsupportedPayload naming ``path``."""
    if not isinstance(value, dict):
        raise UnsupportedPayload(f"{path} must be an object, not {kind(value)}")
    return value


def opt_obj(value: Any, path: str) -> dict[str, Any]:
    """Return ``value`` as an object; a missing (null) one is an empty object."""
    return {} if value is None else obj(value, path)


def objects(value: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    """Return ``(path[i], item)`` of an optional list whose every item must be an object."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise UnsupportedPayload(f"{path} must be a list, not {kind(value)}")
    return [(f"{path}[{i}]", obj(item, f"{path}[{i}]")) for i, item in enumerate(value)]


def opt_str(value: Any, path: str, *, numbers: bool = True) -> str | None:
    """Return an optional string (numbers read as their text unless ``numbers=False``); else refuse."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise UnsupportedPayload(f"{path} must be a string, not {kind(value)}")


def text(value: Any, path: str, *, numbers: bool = True) -> str:
    """Return an optional string, ``""`` when missing."""
    return opt_str(value, path, numbers=numbers) or ""


def epoch(value: Any, path: str, *, scale: int = 1) -> dt.datetime | None:
    """Return the UTC time of a Unix timestamp (seconds, or ``scale`` units a second); None if missing."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UnsupportedPayload(f"{path} must be a Unix timestamp, not {kind(value)}")
    try:
        return dt.datetime.fromtimestamp(int(value) / scale, dt.UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise UnsupportedPayload(f"{path} is not a Unix timestamp ({type(exc).__name__})") from None


def opt_int(value: Any, path: str) -> int | None:
    """Return an optional integer (booleans are not integers)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnsupportedPayload(f"{path} must be an integer, not {kind(value)}")
    return value


def integer(value: Any, path: str) -> int:
    """Return a required integer."""
    found = opt_int(value, path)
    if found is None:
        raise UnsupportedPayload(f"{path} is missing")
    return found


def number(value: Any, path: str) -> float:
    """Return a required finite number (latitude, longitude)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not abs(value) < float("inf"):
        raise UnsupportedPayload(f"{path} must be a finite number, not {kind(value)}")
    return float(value)


def opt_bool(value: Any, path: str) -> bool | None:
    """Return an optional boolean."""
    if value is not None and not isinstance(value, bool):
        raise UnsupportedPayload(f"{path} must be true or false, not {kind(value)}")
    return value
