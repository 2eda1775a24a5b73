"""Aduan's background work on the job queue (procrastinate on PostgreSQL): tasks, triggers, workers.

- ``queue``: names, and deferring a job on the caller's transaction (``defer_in``).
- ``tasks``: the procrastinate App of a container and every task it runs.
- ``triggers``: APScheduler's triggers (intervals, cron in the office's time zone); each firing
  defers one job per tick across all workers.
- ``worker``: running workers (in ``aduan serve``, in ``aduan worker``, in tests until idle).
"""
