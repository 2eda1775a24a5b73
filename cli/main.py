"""The ``aduan`` entry point: the root command of ``cli.app`` plus every command group, imported here.

Each ``cli/<group>.py`` adds its commands to ``cli.app.app`` when imported; this module imports them
all (a missing one is an ImportError, never a silently absent command) and runs the app.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from app import settings as config_mod
from cli import channels, email, evaluation, mail, ops, outbox, simulate, users, workflow
from cli.app import CliError, app, database_problem

try:  # typer >= 0.20 vendors its own click
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exc  # type: ignore[no-redef]

#: The command groups, in the order of ``aduan --help``; importing them registered their commands.
COMMAND_MODULES = (outbox, channels, workflow, ops, users, simulate, evaluation, mail, email)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; one-line errors with exit code 2 for usage mistakes."""
    level = os.environ.get("ADUAN_LOG_LEVEL", "ERROR").strip().upper()
    if not isinstance(logging.getLevelName(level), int):
        typer.echo(
            f"aduan: error: ADUAN_LOG_LEVEL={level!r} is not a log level; use DEBUG, INFO, WARNING or ERROR",
            err=True,
        )
        sys.exit(2)
    logging.basicConfig(level=level, format="aduan: %(levelname)s %(name)s: %(message)s")
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="aduan", standalone_mode=False)
    except CliError as exc:
        typer.echo(f"aduan: error: {exc}", err=True)
        sys.exit(exc.code)
    except click_exc.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(0)
    except click_exc.UsageError as exc:
        typer.echo(f"aduan: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("aduan: aborted", err=True)
        sys.exit(130)
    except click_exc.ClickException as exc:
        typer.echo(f"aduan: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except config_mod.ConfigError as exc:
        typer.echo(f"aduan: error: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:
        problem = database_problem(exc)
        if problem is None:
            raise
        typer.echo(f"aduan: error: {problem}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
