"""gallery: persons, images, faces (embeddings) and the index generation

Revision ID: 0003_gallery
Revises: 0001_verifications
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_gallery"
down_revision = "0001_verifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gallery_persons",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("metadata", sa.JSON, nullable=True),
        sa.Column("centroid", sa.LargeBinary, nullable=True),
        sa.Column("face_count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_gallery_persons_name", "gallery_persons", ["name"])
    op.create_table(
        "gallery_images",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("image_id", sa.String(255), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.String(1024), nullable=True),
        sa.Column(
            "person_id",
            sa.Integer,
            sa.ForeignKey(
                "gallery_persons.id", ondelete="CASCADE", name="fk_gallery_images_person_id"
            ),
            nullable=True,
        ),
        sa.Column("metadata", sa.JSON, nullable=True),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("image_id", name="uq_gallery_images_image_id"),
    )
    op.create_index("ix_gallery_images_content_hash", "gallery_images", ["content_hash"])
    op.create_index("ix_gallery_images_person_id", "gallery_images", ["person_id"])
    op.create_table(
        "gallery_faces",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "image_pk",
            sa.Integer,
            sa.ForeignKey(
                "gallery_images.id", ondelete="CASCADE", name="fk_gallery_faces_image_pk"
            ),
            nullable=False,
        ),
        sa.Column(
            "person_id",
            sa.Integer,
            sa.ForeignKey(
                "gallery_persons.id", ondelete="CASCADE", name="fk_gallery_faces_person_id"
            ),
            nullable=True,
        ),
        sa.Column("box", sa.JSON, nullable=False),
        sa.Column("det_score", sa.Float, nullable=False),
        sa.Column("norm", sa.Float, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_gallery_faces_image_pk", "gallery_faces", ["image_pk"])
    op.create_index("ix_gallery_faces_person_id", "gallery_faces", ["person_id"])
    op.create_table(
        "gallery_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("model_pack", sa.String(64), nullable=True),
        sa.Column("model_version", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("gallery_faces")
    op.drop_table("gallery_images")
    op.drop_table("gallery_persons")
    op.drop_table("gallery_state")
