"""bonus points (badges, challenges) count into a wallet's lifetime earned

A citizen's ``lifetime_earned`` counted behaviour credits net of reversals only, so a badge
bonus raised the balance above what the wallet said was ever earned. The postings trigger
now counts bonus entries too, and every wallet's ``earned`` is recomputed from its postings.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import importlib

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_0005 = importlib.import_module(
    "carbon_inclusion.db.migrations.versions.0005_rewards_and_point_lots")
_EARNED_BEFORE = "e.kind IN ('behaviour_credit', 'reversal')"
_EARNED_NOW = "e.kind IN ('behaviour_credit', 'reversal', 'bonus')"


def _recompute(kinds: str) -> None:
    op.execute(f"""
        UPDATE wallets w SET earned = coalesce((
            SELECT sum(p.amount) FROM postings p JOIN journal_entries e ON e.id = p.entry_id
             WHERE p.account = 'citizen' AND p.account_citizen_id = w.citizen_id
               AND {kinds}), 0)""")  # noqa: S608 - kinds is one of the constants above


def upgrade() -> None:
    assert _0005.POSTINGS_ADDED.count(_EARNED_BEFORE) == 2
    op.execute(_0005.POSTINGS_ADDED.replace(_EARNED_BEFORE, _EARNED_NOW))
    _recompute(_EARNED_NOW)


def downgrade() -> None:
    op.execute(_0005.POSTINGS_ADDED)
    _recompute(_EARNED_BEFORE)
