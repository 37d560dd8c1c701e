"""Gallery templates of people not seen for a while are erased (issue 10; off by
default): neither enrolled nor recognised since ``gallery_max_age_days``. Erased
through the gallery, so the change log, every process's index and the index file
lose them as with any erasure."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from likeness.errors import PersonNotFoundError
from likeness.gallery.gallery import INDEX_FILE, Gallery
from likeness.gallery.index import IndexConfig
from likeness.gallery.store import GalleryStore
from likeness.storage import Database


def expire_persons(db: Database, settings, now: datetime | None = None) -> list[int]:
    """Erase the persons not seen for ``settings.gallery_max_age_days``; their ids."""
    if settings.gallery_max_age_days is None:
        return []
    now = now or datetime.now(timezone.utc)
    store = GalleryStore(db)
    stale = store.unseen_since(now - timedelta(days=settings.gallery_max_age_days))
    if not stale:
        return []
    dim = store.dimension() or 512
    gallery = Gallery(
        store,
        IndexConfig.from_settings(settings, dim=dim),
        Path(settings.data_dir) / INDEX_FILE,
        background=False,
    ).open()
    erased = []
    for person_id in stale:
        try:
            gallery.remove_person(person_id)
        except PersonNotFoundError:  # erased meanwhile
            continue
        erased.append(person_id)
    gallery.wait()
    return erased
