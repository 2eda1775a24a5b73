"""The record: models, the rules of SPEC as pure functions, the working-day calendar, deadlines,
``ingest`` (the only writer of complaints) and the workflow. Imports ``channels`` only (URNs, types)."""
