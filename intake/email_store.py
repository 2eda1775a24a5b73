"""The e-mail channel's own bookkeeping: IMAP mailbox positions and mailbox-import progress.

Mail content never lives here (it is in ``raw_inbound``); only where the poller and the importer
stopped, so a restart continues instead of starting over.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, select

from intake.models import ts, utcnow


class MailboxState(SQLModel, table=True):
    """Where the IMAP poller stands in one mailbox: UIDVALIDITY and the last UID safely stored."""

    __tablename__ = "email_mailbox_state"

    #: ``user@host:port/folder``: one row per watched folder.
    mailbox: str = Field(primary_key=True, max_length=255)
    uidvalidity: int | None = Field(default=None, sa_type=sa.BigInteger)
    last_uid: int = Field(default=0, sa_type=sa.BigInteger)
    #: How many times the server changed UIDVALIDITY under us (each one triggered a rescan).
    rescans: int = 0
    updated_at: dt.datetime = ts(nullable=False, default=utcnow)


class MailImport(SQLModel, table=True):
    """Progress of one ``aduan import mbox|maildir`` source, so an interrupted import resumes."""

    __tablename__ = "email_import"

    id: int | None = Field(default=None, primary_key=True)
    #: ``mbox:/abs/path`` or ``maildir:/abs/path``.
    source: str = Field(max_length=1000, unique=True)
    #: Messages of the source handled so far, in the source's own order.
    position: int = 0
    total: int = 0
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    started_at: dt.datetime = ts(nullable=False, default=utcnow)
    updated_at: dt.datetime = ts(nullable=False, default=utcnow)
    finished_at: dt.datetime | None = ts()


def mailbox_state(session: Session, mailbox: str) -> MailboxState:
    """Return the state row of a mailbox, creating an empty one on first use (not yet committed)."""
    row = session.get(MailboxState, mailbox)
    if row is None:
        row = MailboxState(mailbox=mailbox)
        session.add(row)
    return row


def import_progress(session: Session, source: str) -> MailImport:
    """Return the progress row of an import source, creating it on first use (not yet committed)."""
    row = session.exec(select(MailImport).where(MailImport.source == source)).first()
    if row is None:
        row = MailImport(source=source)
        session.add(row)
        session.flush()
    return row
