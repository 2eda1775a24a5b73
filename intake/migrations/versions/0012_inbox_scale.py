"""inbox at scale: a reporter's complaints and the open ones, each in due-date order

Revision ID: 0012_inbox_scale
Revises: 0011_search

Open records are recent and closed ones old, so the overdue queue (open, due before today, soonest
first) walked the due dates of every closed record before the first open one: 300 ms on PostgreSQL
with 1,000,000 on file. ``ix_complaint_open_due`` holds the open records only (a partial index; the
inbox writes the same condition into its queries).

A search by part of a name finds the reporters (trigram index), then their complaints, soonest due
first. With one complaint in sixteen matching, 1,000,000 on file, SQLite read each of the 62,500
rows from the table for its due date and anonymity (50 ms a page); this index holds both, so the
rows are not read. It replaces ``ix_complaint_reporter_id``, whose lookups (a reporter's records)
it serves as well.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_inbox_scale"
down_revision: str | Sequence[str] | None = "0011_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('received', 'under_review', 'in_follow_up')"


def upgrade() -> None:
    op.create_index(
        "ix_complaint_reporter_due", "complaint", ["reporter_id", "anonymous", "due_date"], unique=False
    )
    op.drop_index("ix_complaint_reporter_id", table_name="complaint")
    op.create_index(
        "ix_complaint_open_due",
        "complaint",
        ["kind", "due_date"],
        unique=False,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_complaint_open_due", table_name="complaint")
    op.create_index("ix_complaint_reporter_id", "complaint", ["reporter_id"], unique=False)
    op.drop_index("ix_complaint_reporter_due", table_name="complaint")
