"""dialogue follow-ups: dialogue_draft.followed_up_at

Revision ID: 0016_i20_follow_up
Revises: 0013_drafts_office

A citizen's message about an open complaint is passed on to its officer and acknowledged once
per burst: the column holds when the last one was passed on (bot/dialogue.py ``_follow_up``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from intake.models import UTCDateTime

revision: str = "0016_i20_follow_up"
down_revision: str | Sequence[str] | None = "0013_drafts_office"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dialogue_draft", schema=None) as batch:
        batch.add_column(sa.Column("followed_up_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dialogue_draft", schema=None) as batch:
        batch.drop_column("followed_up_at")
