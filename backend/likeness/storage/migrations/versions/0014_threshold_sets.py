"""threshold_sets: decision thresholds per model version, with their history

Revision ID: 0014_threshold_sets
Revises: 0013_person_name_key
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_threshold_sets"
down_revision = "0013_person_name_key"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "threshold_sets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_pack", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("verify", sa.Float(), nullable=True),
        sa.Column("search", sa.Float(), nullable=True),
        sa.Column("source", sa.JSON(), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("previous_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "model_pack", "model_version", "previous_id", name="uq_threshold_sets_previous"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_threshold_sets_model", "threshold_sets", ["model_pack", "model_version", "id"]
    )


def downgrade() -> None:
    op.drop_table("threshold_sets")
