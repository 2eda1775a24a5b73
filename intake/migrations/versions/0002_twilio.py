"""twilio: attachment downloads of SMS/WhatsApp media (bot/attachments.py)

Revision ID: 0002_twilio
Revises: 0001_foundation
Create Date: 2026-11-27 23:20:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.models

revision: str = '0002_twilio'
down_revision: str | Sequence[str] | None = '0001_foundation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('attachment_download',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', intake.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('path', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', intake.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stored_at', intake.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id', 'position', name='uq_attachment_download_message_position')
    )
    with op.batch_alter_table('attachment_download', schema=None) as batch_op:
        batch_op.create_index('ix_attachment_download_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_attachment_download_message_id'), ['message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('attachment_download', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachment_download_message_id'))
        batch_op.drop_index('ix_attachment_download_due')
    op.drop_table('attachment_download')
