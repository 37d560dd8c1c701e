"""gallery_face_crops: the aligned 112x112 crop (JPEG) of each gallery face

In a table of its own, so the face rows that clustering and search read stay small.
Deleted with the face (ON DELETE CASCADE).

Revision ID: 0011_face_crops
Revises: 0010_person_usable_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_face_crops"
down_revision = "0010_person_usable_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gallery_face_crops",
        sa.Column(
            "face_id",
            sa.Integer(),
            sa.ForeignKey("gallery_faces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gallery_face_crops")
