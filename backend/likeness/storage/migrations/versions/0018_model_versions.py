"""model_versions (the model registry), face_embeddings (gallery embeddings of
other model versions), gallery_changes.model_version (a switch of version) and
person_exemplars.model_version (stamped with the gallery's version)

Revision ID: 0018_model_versions
Revises: 0017_search_refusals
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_model_versions"
down_revision = "0017_search_refusals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("model_pack", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("file", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data_sha256", sa.String(64), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("gate", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous_id", sa.String(64), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.UniqueConstraint("model_pack", "sha256", name="uq_model_versions_file"),
    )
    op.create_index("ix_model_versions_model_pack", "model_versions", ["model_pack"])
    op.create_table(
        "face_embeddings",
        sa.Column(
            "face_id",
            sa.Integer(),
            sa.ForeignKey("gallery_faces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model_version", sa.String(64), primary_key=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("norm", sa.Float(), nullable=False),
    )
    op.create_index("ix_face_embeddings_model_version", "face_embeddings", ["model_version"])
    op.add_column("gallery_changes", sa.Column("model_version", sa.String(64), nullable=True))
    op.add_column("person_exemplars", sa.Column("model_version", sa.String(64), nullable=True))
    # exemplars made so far came from the gallery's one version
    op.execute(
        "UPDATE person_exemplars SET model_version = "
        "(SELECT model_version FROM gallery_state WHERE id = 1)"
    )


def downgrade() -> None:
    op.drop_column("person_exemplars", "model_version")
    op.drop_column("gallery_changes", "model_version")
    op.drop_index("ix_face_embeddings_model_version", "face_embeddings")
    op.drop_table("face_embeddings")
    op.drop_index("ix_model_versions_model_pack", "model_versions")
    op.drop_table("model_versions")
