"""procrastinate_jobs: an index for the per-sender lock check of every job fetch; analyze it early

Revision ID: 0006_job_lock_index
Revises: 0005_message_location

procrastinate's ``procrastinate_fetch_job_v2`` skips a job while an earlier job of the same lock
waits or runs (a ``NOT EXISTS`` on ``lock = jobs.lock``). Its own indexes have ``lock`` second
(``(id, lock)``) or only for running jobs, so with a backlog of N payloads, one lock each, every
fetch scanned the whole index once per candidate: measured 120 ms per fetch at 3,000 waiting jobs,
about 10 jobs/s for a worker. An index led by ``lock`` over waiting and running jobs makes each
check one index probe (4 ms per fetch at 3,000, 0.2 ms once the table's statistics are fresh).
procrastinate's upstream issue #1242 tracks the same query.

A burst fills the table faster than autovacuum's default (ANALYZE after 10 % of the rows changed)
notices, and with stale statistics the planner sorts every waiting job instead of walking the
priority index; analyzing after every thousand changes keeps its plans fresh.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_job_lock_index"
down_revision: str | Sequence[str] | None = "0005_message_location"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX aduan_procrastinate_jobs_lock_active ON procrastinate_jobs (lock) "
        "WHERE status IN ('todo', 'doing') AND lock IS NOT NULL"
    )
    op.execute(
        "ALTER TABLE procrastinate_jobs SET (autovacuum_analyze_scale_factor = 0, "
        "autovacuum_analyze_threshold = 1000)"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE procrastinate_jobs RESET (autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)"
    )
    op.execute("DROP INDEX aduan_procrastinate_jobs_lock_active")
