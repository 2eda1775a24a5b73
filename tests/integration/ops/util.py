"""Helpers shared by the ops, security and fault tests: which channels exist, an app on them."""

from __future__ import annotations

import importlib
from typing import Any

import channels


def existing_channels() -> list[str]:
    """Return the registry channels whose module is importable in this tree (others may be in progress)."""
    names = []
    for name, entry in channels.REGISTRY.items():
        if entry.module is None:
            continue
        try:
            importlib.import_module(entry.module)
        except ModuleNotFoundError as exc:
            if exc.name != entry.module:
                raise
            continue
        names.append(name)
    return names


def enable_existing(config_data: dict[str, Any]) -> list[str]:
    """Enable every channel that exists and disable the others; return the enabled names."""
    present = existing_channels()
    tables = config_data.setdefault("channels", {})
    for name in channels.REGISTRY:
        if channels.REGISTRY[name].module is None:
            continue
        table = tables.setdefault(name, {})
        table["enabled"] = name in present
    return present
