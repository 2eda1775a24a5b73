"""survey: satisfaction survey invitations and responses (E1, PermenPANRB 14/2017)

Revision ID: 0008_survey
Revises: 0001_foundation
Create Date: 2026-11-27 22:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.models

revision: str = '0008_survey'
down_revision: str | Sequence[str] | None = '0001_foundation'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('survey_invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('nonce', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('complaint_id', sa.Integer(), nullable=True),
    sa.Column('contact_urn', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('service_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('answers', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('invalid_count', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('invited_at', intake.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', intake.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', intake.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', intake.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id'], ),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('nonce'),
    sa.UniqueConstraint('office', 'contact_urn', 'period', name='uq_survey_invitation_contact_period')
    )
    with op.batch_alter_table('survey_invitation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_invitation_complaint_id'), ['complaint_id'], unique=False)
        batch_op.create_index('ix_survey_invitation_open', ['contact_urn', 'state'], unique=False)

    op.create_table('survey_response',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('complaint_id', sa.Integer(), nullable=True),
    sa.Column('service_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('via', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('u1', sa.Integer(), nullable=False),
    sa.Column('u2', sa.Integer(), nullable=False),
    sa.Column('u3', sa.Integer(), nullable=False),
    sa.Column('u4', sa.Integer(), nullable=False),
    sa.Column('u5', sa.Integer(), nullable=False),
    sa.Column('u6', sa.Integer(), nullable=False),
    sa.Column('u7', sa.Integer(), nullable=False),
    sa.Column('u8', sa.Integer(), nullable=False),
    sa.Column('u9', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('submitted_at', intake.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id'], ),
    sa.ForeignKeyConstraint(['invitation_id'], ['survey_invitation.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invitation_id')
    )
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_response_complaint_id'), ['complaint_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_response_office'), ['office'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_response_period'), ['period'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_response_submitted_at'), ['submitted_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_response_submitted_at'))
        batch_op.drop_index(batch_op.f('ix_survey_response_period'))
        batch_op.drop_index(batch_op.f('ix_survey_response_office'))
        batch_op.drop_index(batch_op.f('ix_survey_response_complaint_id'))

    op.drop_table('survey_response')
    with op.batch_alter_table('survey_invitation', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_invitation_open')
        batch_op.drop_index(batch_op.f('ix_survey_invitation_complaint_id'))

    op.drop_table('survey_invitation')
