"""1:N gallery search: persons and their face embeddings in the database, a FAISS
index derived from it, enrolment and bulk indexing."""

from likeness.gallery.gallery import Gallery, Hit
from likeness.gallery.index import IndexConfig, VectorIndex
from likeness.gallery.store import GalleryStore

__all__ = ["Gallery", "GalleryStore", "Hit", "IndexConfig", "VectorIndex"]
