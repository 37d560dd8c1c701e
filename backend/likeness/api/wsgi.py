"""WSGI entry point for Gunicorn: ``likeness.api.wsgi:app``. The Gunicorn master
has already migrated the database (``on_starting`` in gunicorn.conf.py)."""

import os

from likeness.api import create_app

app = create_app(migrate=os.environ.get("LIKENESS_SKIP_MIGRATE") != "1")
