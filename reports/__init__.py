"""Reports: periodic reports and the yearly evaluation with their exports (``evaluation``), the
follow-up report (``followup``). Imports ``bot`` (survey results), ``intake``, ``channels``, ``app``."""
