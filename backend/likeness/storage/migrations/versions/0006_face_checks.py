"""face checks of gallery faces: a usable flag and the checks' scores

Revision ID: 0006_face_checks
Revises: 0005_access
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_face_checks"
down_revision = "0005_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gallery_faces", recreate="never") as batch:
        batch.add_column(sa.Column("usable", sa.Boolean, nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("checks", sa.JSON, nullable=True))
    op.create_index("ix_gallery_faces_usable", "gallery_faces", ["usable"])


def downgrade() -> None:
    op.drop_index("ix_gallery_faces_usable", table_name="gallery_faces")
    with op.batch_alter_table("gallery_faces") as batch:
        batch.drop_column("checks")
        batch.drop_column("usable")
