"""drop the index on gallery_faces.usable

Nearly every face is usable, so the index selects nothing; worse, SQLite's planner
(without statistics) preferred it to the person_id index, so every "faces of these
persons" query scanned the whole table (measured: a 2-million-face clustering run
spent most of its time there).

Revision ID: 0009_drop_usable_index
Revises: 0008_clusters
"""

from alembic import op

revision = "0009_drop_usable_index"
down_revision = "0008_clusters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_gallery_faces_usable", table_name="gallery_faces")


def downgrade() -> None:
    op.create_index("ix_gallery_faces_usable", "gallery_faces", ["usable"])
