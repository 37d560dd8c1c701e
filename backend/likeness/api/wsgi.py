"""WSGI entry point for Gunicorn: ``likeness.api.wsgi:app``."""

from likeness.api import create_app

app = create_app()
