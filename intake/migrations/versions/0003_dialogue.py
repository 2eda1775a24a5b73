"""dialogue: one conversation draft per sender URN (bot/dialogue.py)

Revision ID: 0003_dialogue
Revises: 0001_foundation
Create Date: 2026-11-27 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.models

revision: str = '0003_dialogue'
down_revision: str | Sequence[str] | None = '0001_foundation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dialogue_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sender_urn', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('service_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('service_decided', sa.Boolean(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=True),
    sa.Column('date_decided', sa.Boolean(), nullable=False),
    sa.Column('misses', sa.Integer(), nullable=False),
    sa.Column('message_ids', sa.Text(), nullable=False),
    sa.Column('attachment_count', sa.Integer(), nullable=False),
    sa.Column('started_at', intake.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_inbound_at', intake.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('window_started_at', intake.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('window_count', sa.Integer(), nullable=False),
    sa.Column('flood_notified', sa.Boolean(), nullable=False),
    sa.Column('last_complaint_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', intake.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['last_complaint_id'], ['complaint.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sender_urn')
    )
    with op.batch_alter_table('dialogue_draft', schema=None) as batch_op:
        batch_op.create_index('ix_dialogue_draft_state_inbound', ['state', 'last_inbound_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dialogue_draft', schema=None) as batch_op:
        batch_op.drop_index('ix_dialogue_draft_state_inbound')

    op.drop_table('dialogue_draft')
