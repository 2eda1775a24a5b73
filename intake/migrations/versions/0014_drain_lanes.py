"""drain lanes: raw_inbound.lane and the drainers' index

Revision ID: 0014_drain_lanes
Revises: 0001_foundation

Payloads of one sender share a lane; on PostgreSQL several drainers process different lanes at
once (bot/accept.py). Rows stored before this migration are all in lane 0.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_drain_lanes"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("raw_inbound", schema=None) as batch:
        batch.add_column(sa.Column("lane", sa.SmallInteger(), nullable=False, server_default="0"))
        batch.create_index("ix_raw_inbound_drain", ["status", "lane", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("raw_inbound", schema=None) as batch:
        batch.drop_index("ix_raw_inbound_drain")
        batch.drop_column("lane")
