"""index gallery_faces on (person_id, usable) instead of person_id alone

Counting a person's usable faces is then read from the index alone. Assigning new
faces to existing persons updates each person's template from a running sum
(template x cohesion x usable faces), which needs that count; without the index
it meant reading every face row of every touched person (measured: 60 s to assign
10,000 new faces to a 2-million-face gallery through SQLite). Queries by person_id
alone use the index's first column as before.

Revision ID: 0010_person_usable_index
Revises: 0009_drop_usable_index
"""

from alembic import op

revision = "0010_person_usable_index"
down_revision = "0009_drop_usable_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_gallery_faces_person_usable", "gallery_faces", ["person_id", "usable"])
    op.drop_index("ix_gallery_faces_person_id", table_name="gallery_faces")


def downgrade() -> None:
    op.create_index("ix_gallery_faces_person_id", "gallery_faces", ["person_id"])
    op.drop_index("ix_gallery_faces_person_usable", table_name="gallery_faces")
