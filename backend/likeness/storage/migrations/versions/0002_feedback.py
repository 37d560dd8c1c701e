"""feedback votes and optional face crops

Revision ID: 0002_feedback
Revises: 0001_verifications
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_feedback"
down_revision = "0001_verifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verification_crops",
        sa.Column(
            "verification_id",
            sa.String(32),
            sa.ForeignKey(
                "verifications.id",
                ondelete="CASCADE",
                name="fk_verification_crops_verification_id",
            ),
            primary_key=True,
        ),
        sa.Column("crop1", sa.LargeBinary, nullable=False),
        sa.Column("crop2", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "verification_id",
            sa.String(32),
            sa.ForeignKey(
                "verifications.id", ondelete="SET NULL", name="fk_feedback_verification_id"
            ),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_pack", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("similarity", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("is_match", sa.Boolean, nullable=False),
        sa.Column("face_policy", sa.String(16), nullable=False),
        sa.Column("vote", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("embedding1", sa.LargeBinary, nullable=False),
        sa.Column("embedding2", sa.LargeBinary, nullable=False),
        sa.Column("crop1", sa.LargeBinary, nullable=True),
        sa.Column("crop2", sa.LargeBinary, nullable=True),
        sa.UniqueConstraint("verification_id", name="uq_feedback_verification_id"),
        sa.CheckConstraint("vote IN ('up', 'down')", name="ck_feedback_vote"),
    )
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_feedback_created_at", table_name="feedback")
    op.drop_table("feedback")
    op.drop_table("verification_crops")
