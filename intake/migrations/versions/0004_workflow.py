"""workflow: internal notes, related-complaint links (R6c), deadline alerts (R4, once per checkpoint)

Revision ID: 0004_workflow
Revises: 0001_foundation
Create Date: 2026-11-27 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import intake.models

revision: str = "0004_workflow"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "complaint_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["staff_user.id"]),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaint.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("complaint_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaint_note_complaint_id"), ["complaint_id"], unique=False)

    op.create_table(
        "related_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("related_id", sa.Integer(), nullable=False),
        sa.Column("reasons", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", intake.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaint.id"]),
        sa.ForeignKeyConstraint(["decided_by_id"], ["staff_user.id"]),
        sa.ForeignKeyConstraint(["related_id"], ["complaint.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("complaint_id", "related_id", name="uq_related_link_pair"),
    )
    with op.batch_alter_table("related_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_related_link_complaint_id"), ["complaint_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_related_link_related_id"), ["related_id"], unique=False)

    op.create_table(
        "deadline_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("checkpoint", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("notify", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("scheduled_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", intake.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("days_left", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("channels_sent", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", intake.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("seen_at", intake.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaint.id"]),
        sa.ForeignKeyConstraint(["recipient_id"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("complaint_id", "checkpoint", "occurrence", name="uq_deadline_alert_once"),
    )
    with op.batch_alter_table("deadline_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deadline_alert_complaint_id"), ["complaint_id"], unique=False)
        batch_op.create_index("ix_deadline_alert_status", ["status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deadline_alert", schema=None) as batch_op:
        batch_op.drop_index("ix_deadline_alert_status")
        batch_op.drop_index(batch_op.f("ix_deadline_alert_complaint_id"))
    op.drop_table("deadline_alert")
    with op.batch_alter_table("related_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_related_link_related_id"))
        batch_op.drop_index(batch_op.f("ix_related_link_complaint_id"))
    op.drop_table("related_link")
    with op.batch_alter_table("complaint_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_note_complaint_id"))
    op.drop_table("complaint_note")
