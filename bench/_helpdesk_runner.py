"""Baseline runner for bench_email: django-helpdesk's email-to-ticket function on the same corpus.

Runs inside ``bench/.venv-helpdesk`` (made by ``bench/bench_email.py``), never in Aduan's venv.
Usage: ``python _helpdesk_runner.py CORPUS_DIR WORK_DIR DATABASE`` → one JSON line on stdout.
``DATABASE`` is a fresh PostgreSQL database's name on 127.0.0.1:5432 (user postgres; the bench
creates and drops it): the baseline runs on the same database server as Aduan. A minimal Django
project (that database, locmem mail backend) is configured in code here.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

urlpatterns: list[object] = []


def database(name: str) -> dict[str, str]:
    """Return Django's ``DATABASES["default"]`` for PostgreSQL database ``name``."""
    # The same server and user as Aduan's side (psycopg 3 in the bench venv; trust auth on loopback).
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "5432",
    }


def main(corpus: Path, work: Path, db_name: str) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only",
        USE_TZ=True,
        TIME_ZONE="Asia/Jakarta",
        SITE_ID=1,
        DATABASES={"default": database(db_name)},
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.sites",
            "django.contrib.messages",
            "django.contrib.humanize",
            "django.contrib.admin",
            "rest_framework",
            "helpdesk",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        MIDDLEWARE=[],
        ROOT_URLCONF="__main__",  # urlpatterns below: helpdesk mounted under its namespace
        MEDIA_ROOT=str(work / "media"),
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        LOGIN_URL="/login/",
        HELPDESK_TEAMS_MODE_ENABLED=False,  # no pinax-teams: the minimal project
    )
    django.setup()
    from django.core.management import call_command
    from django.urls import include, path

    global urlpatterns
    urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]
    call_command("migrate", verbosity=0, interactive=False)
    from django.utils import encoding
    from helpdesk.email import extract_email_metadata
    from helpdesk.models import FollowUp, Queue, Ticket

    queue = Queue.objects.create(
        title="Pengaduan", slug="PWK", email_address="pengaduan@example.test", allow_email_submission=True
    )
    logger = logging.getLogger("helpdesk-bench")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    files = sorted(corpus.glob("*.eml"))
    crashes: dict[str, int] = {}
    not_processed = 0
    t0 = time.perf_counter()
    for eml in files:
        # what helpdesk's own imap_sync does with the fetched bytes
        full_message = encoding.force_str(eml.read_bytes(), errors="replace")
        try:
            ticket = extract_email_metadata(message=full_message, queue=queue, logger=logger)
        except Exception as exc:  # a crash: the mail would stay in the mailbox, unprocessed
            crashes[type(exc).__name__] = crashes.get(type(exc).__name__, 0) + 1
            continue
        if ticket is None:
            not_processed += 1
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "n": len(files),
                "seconds": seconds,
                "crashes": sum(crashes.values()),
                "crash_types": crashes,
                "not_processed": not_processed,
                "tickets": Ticket.objects.count(),
                "followups": FollowUp.objects.count(),
                "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python _helpdesk_runner.py CORPUS_DIR WORK_DIR DATABASE")
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
