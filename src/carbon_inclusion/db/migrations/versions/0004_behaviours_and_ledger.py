"""behaviours, partner records, daily cap counters and the points ledger

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('daily_totals',
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('grams', sa.Numeric(precision=20, scale=3), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.CheckConstraint('count >= 0 AND grams >= 0 AND points >= 0', name=op.f('ck_daily_totals_not_negative')),
    sa.PrimaryKeyConstraint('citizen_id', 'type', 'day', name=op.f('pk_daily_totals'))
    )
    op.create_table('partner_records',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('ref_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=48), nullable=True),
    sa.Column('citizen_id', sa.Uuid(), nullable=True),
    sa.Column('behaviour_id', sa.Uuid(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('received', 'credited', 'unbound', 'rejected', 'expired')", name=op.f('ck_partner_records_status')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_records_partner_id_partners'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_records')),
    sa.UniqueConstraint('partner_id', 'external_id', name=op.f('uq_partner_records_partner_id_external_id'))
    )
    op.create_index('ix_partner_records_unbound', 'partner_records', ['partner_id', 'ref_hash'], unique=False, postgresql_where=sa.text("status = 'unbound'"))
    op.create_table('behaviours',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('programme_day', sa.Date(), nullable=False),
    sa.Column('district_code', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('evidence', sa.String(length=32), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=True),
    sa.Column('external_id', sa.String(length=128), nullable=True),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('request_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=48), nullable=True),
    sa.Column('reason_detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('flags', sa.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('methodology_id', sa.Uuid(), nullable=True),
    sa.Column('methodology_code', sa.String(length=32), nullable=True),
    sa.Column('methodology_version', sa.BigInteger(), nullable=True),
    sa.Column('computed_reduction_g', sa.Numeric(precision=20, scale=3), nullable=False),
    sa.Column('computed_points', sa.Integer(), nullable=False),
    sa.Column('reduction_g', sa.Numeric(precision=20, scale=3), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('ledger_entry_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reviewed_by', sa.Uuid(), nullable=True),
    sa.Column('review_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("(source = 'app') = (idempotency_key IS NOT NULL)", name=op.f('ck_behaviours_app_key')),
    sa.CheckConstraint("source IN ('app', 'partner')", name=op.f('ck_behaviours_source')),
    sa.CheckConstraint("status IN ('credited', 'pending_review', 'rejected', 'superseded')", name=op.f('ck_behaviours_status')),
    sa.CheckConstraint('points >= 0 AND computed_points >= 0', name=op.f('ck_behaviours_points_not_negative')),
    sa.ForeignKeyConstraint(['citizen_id'], ['users.id'], name=op.f('fk_behaviours_citizen_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['methodology_id'], ['methodology_versions.id'], name=op.f('fk_behaviours_methodology_id_methodology_versions'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_behaviours')),
    sa.UniqueConstraint('citizen_id', 'idempotency_key', name=op.f('uq_behaviours_citizen_id_idempotency_key'))
    )
    op.create_index('ix_behaviours_citizen_created', 'behaviours', ['citizen_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_behaviours_citizen_occurred', 'behaviours', ['citizen_id', 'occurred_at', 'id'], unique=False)
    op.create_index('ix_behaviours_citizen_type_occurred', 'behaviours', ['citizen_id', 'type', 'occurred_at'], unique=False)
    op.create_index('ix_behaviours_pending', 'behaviours', ['created_at'], unique=False, postgresql_where=sa.text("status = 'pending_review'"))
    op.create_index('ix_behaviours_type_occurred', 'behaviours', ['type', 'occurred_at'], unique=False)
    op.create_table('journal_entries',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('behaviour_id', sa.Uuid(), nullable=True),
    sa.Column('redemption_id', sa.Uuid(), nullable=True),
    sa.Column('reverses_id', sa.Uuid(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=160), nullable=False),
    sa.Column('request_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('memo', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('behaviour_credit', 'reversal', 'redemption', 'redemption_refund', 'expiry')", name=op.f('ck_journal_entries_kind')),
    sa.ForeignKeyConstraint(['citizen_id'], ['users.id'], name=op.f('fk_journal_entries_citizen_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['reverses_id'], ['journal_entries.id'], name=op.f('fk_journal_entries_reverses_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journal_entries'))
    )
    op.create_index('ix_journal_entries_citizen_created', 'journal_entries', ['citizen_id', 'created_at', 'id'], unique=False)
    op.create_index('uq_journal_entries_citizen_idempotency', 'journal_entries', ['citizen_id', 'idempotency_key'], unique=True)
    op.create_index('uq_journal_entries_reverses', 'journal_entries', ['reverses_id'], unique=True, postgresql_where='reverses_id IS NOT NULL')
    op.create_table('wallets',
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('earned', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('balance >= 0', name=op.f('ck_wallets_balance_not_negative')),
    sa.CheckConstraint('earned >= 0', name=op.f('ck_wallets_earned_not_negative')),
    sa.ForeignKeyConstraint(['citizen_id'], ['users.id'], name=op.f('fk_wallets_citizen_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('citizen_id', name=op.f('pk_wallets'))
    )
    op.create_table('postings',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('account', sa.String(length=16), nullable=False),
    sa.Column('account_citizen_id', sa.Uuid(), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(account = 'citizen') = (account_citizen_id IS NOT NULL)", name=op.f('ck_postings_citizen_account')),
    sa.CheckConstraint("account IN ('citizen', 'issuance', 'redemption', 'reversal', 'expiry')", name=op.f('ck_postings_account')),
    sa.CheckConstraint('amount <> 0', name=op.f('ck_postings_amount_not_zero')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], name=op.f('fk_postings_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_postings'))
    )
    op.create_index('ix_postings_account_citizen', 'postings', ['account_citizen_id', 'id'], unique=False, postgresql_where='account_citizen_id IS NOT NULL')
    op.create_index('ix_postings_entry', 'postings', ['entry_id'], unique=False)
    for statement in LEDGER_TRIGGERS:
        op.execute(statement)


# The ledger's rules, enforced where no code path can skip them:
# * an entry's postings sum to zero and its citizen postings to its ``points``: checked at
#   commit for new entries, and for the entries a postings statement touches right after it
#   (so an entry's postings are inserted in one statement);
# * entries and postings are append-only;
# * the citizen postings of a statement move the wallets in the same statement (rows locked in
#   citizen order, so concurrent writers cannot deadlock here); ``balance >= 0`` is a CHECK,
#   so an overspend fails whatever the interleaving. Statement-level triggers with transition
#   tables keep a batch of 1,000 entries to a handful of statements.
LEDGER_TRIGGERS = [
"""
CREATE FUNCTION ci_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total numeric;
    mine numeric;
    lines int;
BEGIN
    SELECT coalesce(sum(amount), 0), coalesce(sum(amount) FILTER (WHERE account = 'citizen'), 0),
           count(*)
      INTO total, mine, lines FROM postings WHERE entry_id = NEW.id;
    IF lines < 2 OR total <> 0 OR mine <> NEW.points THEN
        RAISE EXCEPTION 'journal entry % does not balance (% lines, sum %, citizen %, points %)',
            NEW.id, lines, total, mine, NEW.points USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$
""",
"""CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ci_entry_balanced()""",
"""
CREATE FUNCTION ci_postings_added() RETURNS trigger LANGUAGE plpgsql AS $$
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
    RETURN NULL;
END $$
""",
"""CREATE TRIGGER postings_added AFTER INSERT ON postings
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ci_postings_added()""",
"""CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION ci_append_only()""",
"""CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION ci_append_only()""",
]
