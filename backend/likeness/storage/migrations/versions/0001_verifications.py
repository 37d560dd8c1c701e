"""verifications table

Revision ID: 0001_verifications
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_verifications"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verifications",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_pack", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("similarity", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("is_match", sa.Boolean, nullable=False),
        sa.Column("face_policy", sa.String(16), nullable=False),
        sa.Column("embedding1", sa.LargeBinary, nullable=False),
        sa.Column("embedding2", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_verifications_created_at", "verifications", ["created_at"])


def downgrade() -> None:
    op.drop_table("verifications")
