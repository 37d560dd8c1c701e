"""searches (kept for voting) and search_feedback (votes on search results)

Revision ID: 0012_search_feedback
Revises: 0011_face_crops
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_search_feedback"
down_revision = "0011_face_crops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "searches",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_pack", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("faces", sa.Integer(), nullable=False),
        sa.Column("embeddings", sa.LargeBinary(), nullable=False),
        sa.Column("shown", sa.JSON(), nullable=False),
    )
    op.create_index("ix_searches_created_at", "searches", ["created_at"])
    op.create_table(
        "search_feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "search_id",
            sa.String(32),
            sa.ForeignKey("searches.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("face_index", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(32), nullable=False),
        sa.Column(
            "person_id",
            sa.Integer(),
            sa.ForeignKey("gallery_persons.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column(
            "face_id",
            sa.Integer(),
            sa.ForeignKey("gallery_faces.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_pack", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("vote", sa.String(8), nullable=False),
        sa.Column("query_embedding", sa.LargeBinary(), nullable=False),
        sa.Column("result_embedding", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("search_id", "face_index", "target", name="uq_search_feedback_target"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_search_feedback_person_id", "search_feedback", ["person_id"])
    op.create_index("ix_search_feedback_face_id", "search_feedback", ["face_id"])


def downgrade() -> None:
    op.drop_table("search_feedback")
    op.drop_table("searches")
