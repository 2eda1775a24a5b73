"""The ASGI entry point ``inbox.asgi:app`` for uvicorn (one Container per web process)."""

from __future__ import annotations

from bot.bootstrap import build
from inbox.app import create_app

app = create_app(build(migrate=False))
