"""offices: the office a member of staff works for (province deployments)

Revision ID: 0010_offices
Revises: 0001_foundation

Existing staff get "" (the primary office): a single-office deployment sees no change.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010_offices"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_user") as batch:
        batch.add_column(
            sa.Column(
                "office", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default=""
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_user") as batch:
        batch.drop_column("office")
