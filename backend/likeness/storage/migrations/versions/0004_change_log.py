"""gallery change log, ids never reused, gallery instance id

Revision ID: 0004_change_log
Revises: 0002_feedback, 0003_gallery

* ``gallery_changes``: one row per committed change of faces (face ids added and
  removed), replayed by every process to bring its index up to date.
* SQLite tables are rebuilt with AUTOINCREMENT so an erased row's id is never given
  to a new row (PostgreSQL sequences never reuse ids already). The copy keeps every
  row. Before this revision SQLite gave the highest erased ids out again, and which
  ids were ever given is not recorded anywhere: a table with a history starts its
  new ids a million above its highest one, past any it can have given.
* ``gallery_state.instance``: a random id that an index file must carry to be trusted;
  ``gallery_state.tag`` / ``gallery_changes.tag``: a random token per change, so an
  index that followed another history (a restored backup) is caught.
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0004_change_log"
down_revision = ("0002_feedback", "0003_gallery")
branch_labels = None
depends_on = None

NEVER_REUSED = ("gallery_persons", "gallery_images", "gallery_faces", "feedback")
#: New ids of a table with a history start this far above its highest id.
MARGIN = 1_000_000


def upgrade() -> None:
    op.create_table(
        "gallery_changes",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("added", sa.LargeBinary, nullable=False),
        sa.Column("removed", sa.LargeBinary, nullable=False),
        sa.Column("cleared", sa.Boolean, nullable=False),
        sa.Column("tag", sa.String(16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("gallery_state") as batch:
        batch.add_column(sa.Column("instance", sa.String(32), nullable=True))
        batch.add_column(sa.Column("tag", sa.String(16), nullable=True))
    op.execute(
        sa.text("UPDATE gallery_state SET instance = :instance").bindparams(
            instance=uuid.uuid4().hex
        )
    )
    if op.get_bind().dialect.name == "sqlite":
        # Database.migrate turns foreign keys off around this (a table rebuild must
        # not cascade deletes into the tables that refer to it).
        bind = op.get_bind()
        generation = bind.execute(sa.text("SELECT max(generation) FROM gallery_state")).scalar()
        votes = bind.execute(sa.text("SELECT count(*) FROM verifications")).scalar()
        history = {
            "gallery_persons": bool(generation),
            "gallery_images": bool(generation),
            "gallery_faces": bool(generation),
            "feedback": bool(votes),
        }
        for table in NEVER_REUSED:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ):
                pass
            if history[table]:
                highest = bind.execute(
                    sa.text(f"SELECT coalesce(max(id), 0) FROM {table}")
                ).scalar()
                bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table})
                bind.execute(
                    sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :n)"),
                    {"t": table, "n": int(highest) + MARGIN},
                )


def downgrade() -> None:
    with op.batch_alter_table("gallery_state") as batch:
        batch.drop_column("tag")
        batch.drop_column("instance")
    op.drop_table("gallery_changes")
