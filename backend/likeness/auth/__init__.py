"""API keys: scoped, stored hashed, managed with ``likeness keys``."""

from likeness.auth.keys import ApiKey, KeyStore, NewKey
from likeness.auth.scopes import SCOPES, covers

__all__ = ["SCOPES", "ApiKey", "KeyStore", "NewKey", "covers"]
