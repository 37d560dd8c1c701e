"""searches.refusals and search_feedback.refusals: what the face checks said of
each searched face (training data leaves refused faces out)

Revision ID: 0017_search_refusals
Revises: 0016_person_exemplars
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_search_refusals"
down_revision = "0016_person_exemplars"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("searches", sa.Column("refusals", sa.JSON(), nullable=True))
    op.add_column("search_feedback", sa.Column("refusals", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("search_feedback", "refusals")
    op.drop_column("searches", "refusals")
