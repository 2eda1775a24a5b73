"""dialogue follow-ups and addresses: dialogue_draft.followed_up_at, dialogue_draft.address

Revision ID: 0003_follow_up
Revises: 0002_sessions

A citizen's message about an open complaint is passed on to its officer and acknowledged once
per burst: ``followed_up_at`` holds when the last one was passed on (bot/dialogue.py ``_follow_up``).
``address`` keeps a village given with the name ("abdi Ujang, ti desa Cibogo") apart from it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

from intake.models import UTCDateTime

revision: str = "0003_follow_up"
down_revision: str | Sequence[str] | None = "0002_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dialogue_draft", schema=None) as batch:
        batch.add_column(sa.Column("followed_up_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("address", AutoString(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dialogue_draft", schema=None) as batch:
        batch.drop_column("address")
        batch.drop_column("followed_up_at")
