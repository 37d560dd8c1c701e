"""person_exemplars: faces users confirmed, part of each person's template

Revision ID: 0016_person_exemplars
Revises: 0015_vote_refusals
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_person_exemplars"
down_revision = "0015_vote_refusals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_exemplars",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "person_id",
            sa.Integer(),
            sa.ForeignKey("gallery_persons.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "vote_id",
            sa.Integer(),
            sa.ForeignKey("search_feedback.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("vote_id", name="uq_person_exemplars_vote_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_person_exemplars_person_id", "person_exemplars", ["person_id"])


def downgrade() -> None:
    op.drop_table("person_exemplars")
