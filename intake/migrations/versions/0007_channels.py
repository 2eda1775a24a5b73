"""channels: X poller state and public-form rate-limit buckets (bot/channel_state.py)

Revision ID: 0007_channels
Revises: 0001_foundation
Create Date: 2026-11-27 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.models

revision: str = '0007_channels'
down_revision: str | Sequence[str] | None = '0001_foundation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('x_poll_state',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('since_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('pending_newest_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('pagination_token', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('rate_limit_remaining', sa.Integer(), nullable=True),
    sa.Column('rate_limit_reset_at', intake.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_polled_at', intake.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('updated_at', intake.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('form_rate_bucket',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=96), nullable=False),
    sa.Column('window_start', intake.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('form_rate_bucket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_rate_bucket_window_start'), ['window_start'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('form_rate_bucket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_rate_bucket_window_start'))
    op.drop_table('form_rate_bucket')
    op.drop_table('x_poll_state')
