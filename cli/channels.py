"""Channel commands: ``aduan telegram-webhook`` (register the webhook) and ``aduan x-poll`` (poll X once)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from app.settings import ConfigError
from cli.app import app, container_of, fail


@app.command("telegram-webhook")
def telegram_webhook(
    ctx: typer.Context,
    delete: Annotated[
        bool, typer.Option("--delete", help="Hapus webhook (Telegram berhenti mengirim).")
    ] = False,
) -> None:
    """Register ``<public_base_url>/hooks/telegram`` with Telegram, with the secret token."""
    # Deliberate lazy import (CLI start-up time, issue 17): only this command pays for it.
    from channels import telegram

    container = container_of(ctx)
    config = container.channel_config("telegram")
    base = container.settings.public_base_url
    if not delete and not base.startswith("https://"):
        fail(f"Telegram only calls https:// webhooks; office.public_base_url is {base!r}")
    try:
        token, secret = config.secret(telegram.TOKEN_ENV), config.secret(telegram.SECRET_ENV)
    except ConfigError as exc:
        fail(str(exc))
    api = str(config.table.get("api_base_url", telegram.DEFAULT_BASE_URL))

    async def run() -> bool:
        from telegram import Bot

        async with Bot(token, base_url=api) as bot:
            if delete:
                return bool(await bot.delete_webhook())
            return bool(
                await bot.set_webhook(
                    f"{base}{telegram.WEBHOOK_PATH}",
                    secret_token=secret,
                    allowed_updates=["message", "edited_message"],
                )
            )

    import asyncio  # deliberate lazy import (CLI start-up time, issue 17)

    ok = asyncio.run(run())
    typer.echo(json.dumps({"ok": ok, "url": None if delete else f"{base}{telegram.WEBHOOK_PATH}"}))


@app.command("x-poll")
def x_poll(ctx: typer.Context) -> None:
    """Poll X mentions and DMs once now (the scheduler does it every poll_interval)."""
    # Deliberate lazy import (CLI start-up time, issue 17): tweepy loads only for this command.
    from channels import x_poller

    container = container_of(ctx)
    if not container.settings.channel("twitter").get("enabled"):
        fail("channel twitter is not enabled in config.toml")
    reports = x_poller.poll_once(container)
    typer.echo(json.dumps({k: vars(v) for k, v in reports.items()}))
