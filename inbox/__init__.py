"""The web app (an entry point): officers' inbox pages, JSON API, provider webhooks, public pages,
ops endpoints. May import every folder except ``cli``."""
