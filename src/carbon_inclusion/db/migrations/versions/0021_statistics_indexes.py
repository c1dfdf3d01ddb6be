"""indexes for the programme's statistics

The dashboard reads a range of programme days across every citizen; the tables' own indexes
all start with the citizen (they are built to be distributed by citizen, DESIGN §12), so
without these a day range would read the whole table.

* ``behaviours``: credited behaviours by programme day, covering what the statistics and
  the public overview sum (type, district, grams, points, citizen): an index-only scan;
* ``journal_entries (created_at)`` covering kind and points: points issued, redeemed,
  expired by day;
* ``redemptions (created_at)``: rewards redeemed by day.

Built ``CONCURRENTLY`` (outside the migration's transaction), so a live service keeps
writing these tables while they are built.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_behaviours_credited_day", "behaviours", ["programme_day"],
     {"postgresql_include": ["type", "district_code", "reduction_g", "points", "citizen_id"],
      "postgresql_where": "status = 'credited'"}),
    ("ix_journal_entries_created_at", "journal_entries", ["created_at"],
     {"postgresql_include": ["kind", "points"]}),
    ("ix_redemptions_created_at", "redemptions", ["created_at"], {}),
]


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, table, columns, options in INDEXES:
            op.create_index(name, table, columns, postgresql_concurrently=True,
                            if_not_exists=True, **options)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name, table, _, _ in reversed(INDEXES):
            op.drop_index(name, table_name=table, postgresql_concurrently=True,
                          if_exists=True)
