"""Operating the service: retention/purge of personal data (``purge``), backup and restore
(``backup``) and log setup (``logging``).
Imports ``bot``, ``outbound``, ``intake``, ``channels``, ``app``; never the entry points."""
