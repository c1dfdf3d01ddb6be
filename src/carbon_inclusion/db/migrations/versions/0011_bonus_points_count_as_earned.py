"""bonus points (badges, challenges) count into a wallet's lifetime earned

A citizen's ``lifetime_earned`` counted behaviour credits net of reversals only, so a badge
bonus raised the balance above what the wallet said was ever earned. The postings trigger
now counts bonus entries too, and every wallet's ``earned`` is recomputed from its postings.

Both versions of the trigger function are stated here in full (upgrade: with bonuses;
downgrade: as revision 0005 made it), so this revision depends on no other module.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_EARNED_BEFORE = "e.kind IN ('behaviour_credit', 'reversal')"
_EARNED_NOW = "e.kind IN ('behaviour_credit', 'reversal', 'bonus')"


def _recompute(kinds: str) -> None:
    op.execute(f"""
        UPDATE wallets w SET earned = coalesce((
            SELECT sum(p.amount) FROM postings p JOIN journal_entries e ON e.id = p.entry_id
             WHERE p.account = 'citizen' AND p.account_citizen_id = w.citizen_id
               AND {kinds}), 0)""")  # noqa: S608 - kinds is one of the constants above


def upgrade() -> None:
    op.execute(POSTINGS_ADDED)
    _recompute(_EARNED_NOW)


def downgrade() -> None:
    op.execute(POSTINGS_ADDED_0005)
    _recompute(_EARNED_BEFORE)


# The postings trigger of 0005 (balance, wallet lock order, lots), whose ``earned`` now also
# counts bonus entries (badges, challenges).
POSTINGS_ADDED = """CREATE OR REPLACE FUNCTION ci_postings_added() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad uuid;
BEGIN
    SELECT p.entry_id INTO bad
      FROM postings p
     WHERE p.entry_id IN (SELECT DISTINCT entry_id FROM added)
     GROUP BY p.entry_id
    HAVING sum(p.amount) <> 0
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance', bad
            USING ERRCODE = 'check_violation';
    END IF;

    PERFORM 1 FROM wallets w
     WHERE w.citizen_id IN (SELECT account_citizen_id FROM added WHERE account = 'citizen')
     ORDER BY w.citizen_id FOR UPDATE;
    -- UPDATE first: an INSERT's proposed row must pass the CHECK even when it would conflict.
    WITH moves AS (
        SELECT a.account_citizen_id AS citizen_id, sum(a.amount) AS amount,
               coalesce(sum(a.amount) FILTER (WHERE e.kind IN ('behaviour_credit', 'reversal', 'bonus')),
                        0) AS earned
          FROM added a JOIN journal_entries e ON e.id = a.entry_id
         WHERE a.account = 'citizen' GROUP BY a.account_citizen_id)
    UPDATE wallets w SET balance = w.balance + m.amount, earned = w.earned + m.earned,
                         updated_at = now()
      FROM moves m WHERE w.citizen_id = m.citizen_id;
    WITH moves AS (
        SELECT a.account_citizen_id AS citizen_id, sum(a.amount) AS amount,
               coalesce(sum(a.amount) FILTER (WHERE e.kind IN ('behaviour_credit', 'reversal', 'bonus')),
                        0) AS earned
          FROM added a JOIN journal_entries e ON e.id = a.entry_id
         WHERE a.account = 'citizen' GROUP BY a.account_citizen_id)
    INSERT INTO wallets AS w (citizen_id, balance, earned)
    SELECT m.citizen_id, m.amount, m.earned FROM moves m
     WHERE NOT EXISTS (SELECT 1 FROM wallets x WHERE x.citizen_id = m.citizen_id)
     ORDER BY m.citizen_id
    ON CONFLICT (citizen_id) DO UPDATE
        SET balance = w.balance + EXCLUDED.balance, earned = w.earned + EXCLUDED.earned,
            updated_at = now();

    PERFORM 1 FROM point_lots l
     WHERE (l.citizen_id, l.lot) IN (SELECT account_citizen_id, lot FROM added
                                      WHERE account = 'citizen')
     ORDER BY l.citizen_id, l.lot FOR UPDATE;
    WITH moves AS (
        SELECT account_citizen_id AS citizen_id, lot, sum(amount) AS amount
          FROM added WHERE account = 'citizen' GROUP BY 1, 2)
    UPDATE point_lots l SET balance = l.balance + m.amount
      FROM moves m WHERE l.citizen_id = m.citizen_id AND l.lot = m.lot;
    WITH moves AS (
        SELECT account_citizen_id AS citizen_id, lot, sum(amount) AS amount
          FROM added WHERE account = 'citizen' GROUP BY 1, 2)
    INSERT INTO point_lots AS l (citizen_id, lot, balance)
    SELECT m.citizen_id, m.lot, m.amount FROM moves m
     WHERE NOT EXISTS (SELECT 1 FROM point_lots x
                        WHERE x.citizen_id = m.citizen_id AND x.lot = m.lot)
     ORDER BY m.citizen_id, m.lot
    ON CONFLICT (citizen_id, lot) DO UPDATE SET balance = l.balance + EXCLUDED.balance;
    RETURN NULL;
END $$
"""

# The function as revision 0005 left it: ``earned`` counts behaviour credits and reversals.
POSTINGS_ADDED_0005 = """CREATE OR REPLACE FUNCTION ci_postings_added() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad uuid;
BEGIN
    SELECT p.entry_id INTO bad
      FROM postings p
     WHERE p.entry_id IN (SELECT DISTINCT entry_id FROM added)
     GROUP BY p.entry_id
    HAVING sum(p.amount) <> 0
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance', bad
            USING ERRCODE = 'check_violation';
    END IF;

    PERFORM 1 FROM wallets w
     WHERE w.citizen_id IN (SELECT account_citizen_id FROM added WHERE account = 'citizen')
     ORDER BY w.citizen_id FOR UPDATE;
    -- UPDATE first: an INSERT's proposed row must pass the CHECK even when it would conflict.
    WITH moves AS (
        SELECT a.account_citizen_id AS citizen_id, sum(a.amount) AS amount,
               coalesce(sum(a.amount) FILTER (WHERE e.kind IN ('behaviour_credit', 'reversal')),
                        0) AS earned
          FROM added a JOIN journal_entries e ON e.id = a.entry_id
         WHERE a.account = 'citizen' GROUP BY a.account_citizen_id)
    UPDATE wallets w SET balance = w.balance + m.amount, earned = w.earned + m.earned,
                         updated_at = now()
      FROM moves m WHERE w.citizen_id = m.citizen_id;
    WITH moves AS (
        SELECT a.account_citizen_id AS citizen_id, sum(a.amount) AS amount,
               coalesce(sum(a.amount) FILTER (WHERE e.kind IN ('behaviour_credit', 'reversal')),
                        0) AS earned
          FROM added a JOIN journal_entries e ON e.id = a.entry_id
         WHERE a.account = 'citizen' GROUP BY a.account_citizen_id)
    INSERT INTO wallets AS w (citizen_id, balance, earned)
    SELECT m.citizen_id, m.amount, m.earned FROM moves m
     WHERE NOT EXISTS (SELECT 1 FROM wallets x WHERE x.citizen_id = m.citizen_id)
     ORDER BY m.citizen_id
    ON CONFLICT (citizen_id) DO UPDATE
        SET balance = w.balance + EXCLUDED.balance, earned = w.earned + EXCLUDED.earned,
            updated_at = now();

    PERFORM 1 FROM point_lots l
     WHERE (l.citizen_id, l.lot) IN (SELECT account_citizen_id, lot FROM added
                                      WHERE account = 'citizen')
     ORDER BY l.citizen_id, l.lot FOR UPDATE;
    WITH moves AS (
        SELECT account_citizen_id AS citizen_id, lot, sum(amount) AS amount
          FROM added WHERE account = 'citizen' GROUP BY 1, 2)
    UPDATE point_lots l SET balance = l.balance + m.amount
      FROM moves m WHERE l.citizen_id = m.citizen_id AND l.lot = m.lot;
    WITH moves AS (
        SELECT account_citizen_id AS citizen_id, lot, sum(amount) AS amount
          FROM added WHERE account = 'citizen' GROUP BY 1, 2)
    INSERT INTO point_lots AS l (citizen_id, lot, balance)
    SELECT m.citizen_id, m.lot, m.amount FROM moves m
     WHERE NOT EXISTS (SELECT 1 FROM point_lots x
                        WHERE x.citizen_id = m.citizen_id AND x.lot = m.lot)
     ORDER BY m.citizen_id, m.lot
    ON CONFLICT (citizen_id, lot) DO UPDATE SET balance = l.balance + EXCLUDED.balance;
    RETURN NULL;
END $$
"""
