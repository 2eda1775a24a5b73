"""The web app's routers, one module per page group; each exposes a module-level ``router``.

Views stay thin: they read the request through ``inbox.deps`` (session, user, office, CSRF) and
call the service modules (``inbox.records``, ``inbox.actions``, ``inbox.queries``, …).
"""
