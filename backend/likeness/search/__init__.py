"""1:N search of photos against the gallery (``search_photo``), and what it answers."""

from likeness.search.results import SearchReport, SearchResult
from likeness.search.service import search_photo, search_vector

__all__ = ["SearchReport", "SearchResult", "search_photo", "search_vector"]
