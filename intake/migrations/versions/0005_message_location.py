"""message: the location a citizen shared, and the earlier texts of an edited message

Revision ID: 0005_message_location
Revises: 0004_read_state

``location`` is JSON (``{"latitude", "longitude", "label"}``) of a WhatsApp, Telegram or Twilio
location (a Telegram venue's name as its label); ``edits`` is the JSON list of the texts an edit
replaced, oldest first, each with the moment it was replaced.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_message_location"
down_revision: str | Sequence[str] | None = "0004_read_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("location", sa.Text(), nullable=True))
        batch.add_column(sa.Column("edits", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_column("edits")
        batch.drop_column("location")
