"""job_parts: the finished parts of a job split across Celery workers

Revision ID: 0019_job_parts
Revises: 0018_model_versions
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_job_parts"
down_revision = "0018_model_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_parts",
        sa.Column(
            "job_id",
            sa.String(32),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("part", sa.Integer(), primary_key=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("job_parts")
