"""drafts_office: one dialogue draft per office and sender (bot/dialogue.py)

Revision ID: 0013_drafts_office
Revises: 0011_search, 0003_dialogue (a merge: the table it changes is made on the 0003 branch)

A citizen who writes to two offices of a province has two conversations. An existing draft gets
the office of its sender's newest message (the office the conversation went on with), else that
of the complaint it last filed; "" when neither is known (``bot.routing.draft_office`` then reads
the office from the draft's messages when it is filed).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0013_drafts_office"
# 0003_dialogue too: with 0011_search alone, "upgrade heads" may run this before the table exists;
# ``depends_on`` would leave 0003_dialogue a script head that the database no longer lists.
down_revision: str | Sequence[str] | None = ("0011_search", "0003_dialogue")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: What 0003_dialogue's unnamed UNIQUE (sender_urn) is called when reflected (SQLite names none).
_OLD_UNIQUE = {"uq": "uq_%(table_name)s_%(column_0_name)s"}

_BACKFILL = """
UPDATE dialogue_draft SET office = COALESCE(
    (SELECT r.office FROM message m JOIN raw_inbound r ON r.id = m.raw_id
      WHERE m.sender_urn = dialogue_draft.sender_urn ORDER BY m.id DESC LIMIT 1),
    (SELECT c.office FROM complaint c WHERE c.id = dialogue_draft.last_complaint_id),
    ''
)
"""


def _unique_on(conn: sa.Connection, columns: list[str]) -> tuple[bool, str | None]:
    """Tell whether dialogue_draft has a unique constraint on exactly ``columns``, and its name."""
    for uq in sa.inspect(conn).get_unique_constraints("dialogue_draft"):
        if list(uq["column_names"]) == columns:
            return True, uq["name"]
    return False, None


def upgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("dialogue_draft") as batch:
        batch.add_column(sa.Column("office", AutoString(length=32), nullable=False, server_default=""))
    op.execute(_BACKFILL)
    found, name = _unique_on(conn, ["sender_urn"])
    if conn.dialect.name == "sqlite":
        # SQLite rebuilds the table; an unnamed constraint is dropped by its conventional name
        with op.batch_alter_table("dialogue_draft", naming_convention=_OLD_UNIQUE) as batch:
            if found:
                batch.drop_constraint(name or "uq_dialogue_draft_sender_urn", type_="unique")
            batch.create_unique_constraint("uq_dialogue_draft_sender_office", ["sender_urn", "office"])
        return
    if found and name:
        op.drop_constraint(name, "dialogue_draft", type_="unique")
    op.create_unique_constraint("uq_dialogue_draft_sender_office", "dialogue_draft", ["sender_urn", "office"])


def downgrade() -> None:
    # Back to one draft per sender: each sender keeps the newest of their drafts.
    op.execute(
        "DELETE FROM dialogue_draft WHERE id NOT IN "
        "(SELECT max(id) FROM dialogue_draft d GROUP BY d.sender_urn)"
    )
    with op.batch_alter_table("dialogue_draft") as batch:
        batch.drop_constraint("uq_dialogue_draft_sender_office", type_="unique")
        batch.create_unique_constraint("dialogue_draft_sender_urn_key", ["sender_urn"])
        batch.drop_column("office")
