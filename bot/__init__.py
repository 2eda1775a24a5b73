"""The conversation bot: the intake dialogue, its texts, its reading of names and dates, the survey
chat. Imports ``outbound``, ``intake``, ``channels`` and ``app``'s Container/settings; never ``inbox``
or ``cli``. (``accept``, ``pipeline``, ``outbox``, ``scheduler``, ``heartbeat`` move out with issue 18.)"""
