"""security: session generation per user, API token expiry, a tally of rejections not kept

Revision ID: 0002_sessions
Revises: 0001_baseline

``staff_user.session_generation`` is part of every session cookie's fingerprint: logout raises it,
so a copied cookie ends with the session it was copied from. ``api_token.expires_at`` lets tokens
expire. ``rejection_tally`` counts refused requests beyond the caps on kept rejection rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

revision: str = "0002_sessions"
down_revision: str | Sequence[str] | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_user") as batch:
        batch.add_column(sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("expires_at", intake.models.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "rejection_tally",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("dropped", sa.Integer(), nullable=False),
        sa.Column("last_at", intake.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("channel"),
    )


def downgrade() -> None:
    op.drop_table("rejection_tally")
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("staff_user") as batch:
        batch.drop_column("session_generation")
