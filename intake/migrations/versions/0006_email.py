"""email: IMAP mailbox positions (UIDVALIDITY, last UID) and mailbox-import progress (R2g)

Revision ID: 0006_email
Revises: 0001_foundation
Create Date: 2026-11-27 22:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.models

revision: str = '0006_email'
down_revision: str | Sequence[str] | None = '0001_foundation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('email_mailbox_state',
    sa.Column('mailbox', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=True),
    sa.Column('last_uid', sa.BigInteger(), nullable=False),
    sa.Column('rescans', sa.Integer(), nullable=False),
    sa.Column('updated_at', intake.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('mailbox')
    )
    op.create_table('email_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('imported', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('quarantined', sa.Integer(), nullable=False),
    sa.Column('started_at', intake.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', intake.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', intake.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source')
    )


def downgrade() -> None:
    op.drop_table('email_import')
    op.drop_table('email_mailbox_state')
