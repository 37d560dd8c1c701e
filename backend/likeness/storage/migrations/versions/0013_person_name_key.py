"""gallery_persons.name_key: names unique, case aside, held by the database

The key is the name in Unicode NFKC, without invisible characters, single-spaced
and case-folded (``likeness.gallery.validation.name_key``); a unique index makes
two writers unable to give one name twice. A gallery made before names were
unique may hold duplicates: the oldest person of a name gets the key, the later
ones keep their name with no key (found by their exact name, never matched).

Revision ID: 0013_person_name_key
Revises: 0012_search_feedback
"""

import sqlalchemy as sa
from alembic import op

from likeness.gallery.validation import name_key

revision = "0013_person_name_key"
down_revision = "0012_search_feedback"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gallery_persons", sa.Column("name_key", sa.String(255), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, name FROM gallery_persons ORDER BY id")).all()
    seen: set[str] = set()
    keys = []
    for person_id, name in rows:
        key = name_key(name)
        if key is not None and key not in seen:
            seen.add(key)
            keys.append({"k": key, "i": person_id})
    if keys:
        connection.execute(sa.text("UPDATE gallery_persons SET name_key = :k WHERE id = :i"), keys)
    op.create_index("ix_gallery_persons_name_key", "gallery_persons", ["name_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_gallery_persons_name_key", table_name="gallery_persons")
    with op.batch_alter_table("gallery_persons") as batch:
        batch.drop_column("name_key")
