"""The ASGI entry point ``inbox.asgi:app`` for uvicorn (one Container per web process)."""

from __future__ import annotations

import gc

from app.bootstrap import build
from inbox.app import create_app

app = create_app(build(migrate=False))

# Everything loaded so far (modules, the app, the ORM's mappings: hundreds of thousands of objects)
# lives as long as the process. Left in the collector's care, each full collection walks all of it,
# a pause of ~90 ms that every request in flight waits out (it was the webhooks' p99). Frozen, a
# full collection only walks what requests allocate. Done here, in the served process only: a test
# process builds many apps and must be able to free them.
gc.collect()
gc.freeze()
