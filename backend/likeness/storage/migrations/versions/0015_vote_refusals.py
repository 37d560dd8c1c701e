"""verifications.refusals and feedback.refusals: what the face checks said of each
face (training data leaves refused faces out)

Revision ID: 0015_vote_refusals
Revises: 0014_threshold_sets
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_vote_refusals"
down_revision = "0014_threshold_sets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("verifications", sa.Column("refusals", sa.JSON(), nullable=True))
    op.add_column("feedback", sa.Column("refusals", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("feedback", "refusals")
    op.drop_column("verifications", "refusals")
