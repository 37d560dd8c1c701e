"""clusters as persons: a person's origin (enrolled or auto), its representative
face and cohesion; who put a face in its person; "not this person" exclusions

Revision ID: 0008_clusters
Revises: 0007_jobs
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_clusters"
down_revision = "0007_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gallery_persons", recreate="never") as batch:
        batch.add_column(
            sa.Column("origin", sa.String(16), nullable=False, server_default="enrolled")
        )
        batch.add_column(sa.Column("representative_face_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("cohesion", sa.Float, nullable=True))
    with op.batch_alter_table("gallery_faces", recreate="never") as batch:
        batch.add_column(sa.Column("assigned_by", sa.String(16), nullable=True))
    # faces enrolled for a person so far: the person's must-links
    op.execute("UPDATE gallery_faces SET assigned_by = 'enrolled' WHERE person_id IS NOT NULL")
    op.create_index("ix_gallery_persons_origin", "gallery_persons", ["origin"])
    op.create_table(
        "face_exclusions",
        sa.Column(
            "face_id",
            sa.Integer,
            sa.ForeignKey("gallery_faces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "person_id",
            sa.Integer,
            sa.ForeignKey("gallery_persons.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("face_exclusions")
    op.drop_index("ix_gallery_persons_origin", table_name="gallery_persons")
    with op.batch_alter_table("gallery_faces") as batch:
        batch.drop_column("assigned_by")
    with op.batch_alter_table("gallery_persons") as batch:
        batch.drop_column("cohesion")
        batch.drop_column("representative_face_id")
        batch.drop_column("origin")
