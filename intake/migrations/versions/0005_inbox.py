"""inbox: access log, API tokens, queue indexes

Revision ID: 0005_inbox
Revises: 0001_foundation
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.models

revision: str = "0005_inbox"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=True),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.Column("what", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("via", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaint.id"]),
        sa.ForeignKeyConstraint(["reporter_id"], ["reporter.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_access_log_complaint_at", "access_log", ["complaint_id", "at"], unique=False)
    op.create_index(op.f("ix_access_log_user_id"), "access_log", ["user_id"], unique=False)
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", intake.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", intake.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_api_token_user_id"), "api_token", ["user_id"], unique=False)
    op.create_index("ix_complaint_kind_status_due", "complaint", ["kind", "status", "due_date"], unique=False)
    op.create_index(
        "ix_complaint_unclaimed_due", "complaint", ["kind", "status", "claimed_by_id", "due_date"], unique=False
    )
    op.create_index("ix_complaint_claimed_by", "complaint", ["claimed_by_id"], unique=False)
    op.create_index("ix_complaint_apip_pending", "complaint", ["apip_requested_at", "apip_approved_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_complaint_apip_pending", table_name="complaint")
    op.drop_index("ix_complaint_claimed_by", table_name="complaint")
    op.drop_index("ix_complaint_unclaimed_due", table_name="complaint")
    op.drop_index("ix_complaint_kind_status_due", table_name="complaint")
    op.drop_index(op.f("ix_api_token_user_id"), table_name="api_token")
    op.drop_table("api_token")
    op.drop_index(op.f("ix_access_log_user_id"), table_name="access_log")
    op.drop_index("ix_access_log_complaint_at", table_name="access_log")
    op.drop_table("access_log")
