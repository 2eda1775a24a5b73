"""The web app (an entry point): officers' inbox pages, JSON API, provider webhooks, public pages,
ops endpoints. May import every folder except ``cli``.

``app.py`` builds the application; ``routes/`` holds one router per page group (login, queue,
complaint, files, reports, admin, api, public), whose views take ``deps.py``'s dependencies (the
Container, a database session per request, the logged-in user by permission, CSRF) and call the
services ``records.py``, ``actions.py``, ``queries.py``, ``staff.py`` and ``public.py``.
"""
