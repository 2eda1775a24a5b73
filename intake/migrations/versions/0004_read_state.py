"""read_state: when each officer last read each record (unread messages, "citizen replied" queue)

Revision ID: 0004_read_state
Revises: 0003_follow_up

Also indexes the outbox by (to_urn, created_at): the complaint page shows the bot's questions
asked before the record existed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from intake.models import UTCDateTime

revision: str = "0004_read_state"
down_revision: str | Sequence[str] | None = "0003_follow_up"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "complaint_read",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("staff_user.id"), primary_key=True),
        sa.Column("complaint_id", sa.Integer(), sa.ForeignKey("complaint.id"), primary_key=True),
        sa.Column("last_read_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_complaint_read_complaint_id", "complaint_read", ["complaint_id"])
    op.create_index("ix_outbox_to_urn_created", "outbox", ["to_urn", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_to_urn_created", table_name="outbox")
    op.drop_index("ix_complaint_read_complaint_id", table_name="complaint_read")
    op.drop_table("complaint_read")
