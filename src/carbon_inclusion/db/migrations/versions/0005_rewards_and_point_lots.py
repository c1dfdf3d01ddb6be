"""the rewards mall (rewards, redemptions, vouchers) and points split into lots by year earned

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rewards',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('cost_points', sa.Integer(), nullable=False),
    sa.Column('stock', sa.Integer(), nullable=True),
    sa.Column('per_citizen_limit', sa.Integer(), nullable=True),
    sa.Column('limit_period', sa.String(length=8), nullable=True),
    sa.Column('sale_from', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sale_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('voucher_valid_days', sa.Integer(), nullable=False),
    sa.Column('cancel_window_s', sa.Integer(), nullable=False),
    sa.Column('max_per_redemption', sa.Integer(), nullable=False),
    sa.Column('uses_code_pool', sa.Boolean(), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=True),
    sa.Column('refund_points_on_expiry', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('coupon', 'voucher', 'donation')", name=op.f('ck_rewards_kind')),
    sa.CheckConstraint("limit_period IN ('day', 'week', 'month')", name=op.f('ck_rewards_limit_period')),
    sa.CheckConstraint("status IN ('active', 'archived')", name=op.f('ck_rewards_status')),
    sa.CheckConstraint('(per_citizen_limit IS NULL) = (limit_period IS NULL)', name=op.f('ck_rewards_limit_has_period')),
    sa.CheckConstraint('cost_points > 0', name=op.f('ck_rewards_cost_positive')),
    sa.CheckConstraint('sale_to IS NULL OR sale_from IS NULL OR sale_to > sale_from', name=op.f('ck_rewards_sale_window')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_rewards_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rewards'))
    )
    op.create_table('reward_stock',
    sa.Column('reward_id', sa.Uuid(), nullable=False),
    sa.Column('shard', sa.SmallInteger(), nullable=False),
    sa.Column('stock', sa.Integer(), nullable=True),
    sa.Column('issued', sa.Integer(), nullable=False),
    sa.CheckConstraint('issued >= 0 AND (stock IS NULL OR issued <= stock)', name=op.f('ck_reward_stock_never_oversold')),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_reward_stock_reward_id_rewards')),
    sa.PrimaryKeyConstraint('reward_id', 'shard', name=op.f('pk_reward_stock'))
    )
    op.create_table('point_lots',
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('lot', sa.SmallInteger(), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('balance >= 0', name=op.f('ck_point_lots_balance_not_negative')),
    sa.ForeignKeyConstraint(['citizen_id'], ['users.id'], name=op.f('fk_point_lots_citizen_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('citizen_id', 'lot', name=op.f('pk_point_lots'))
    )
    op.create_table('redemptions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('reward_id', sa.Uuid(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('codes', sa.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('ledger_entry_id', sa.Uuid(), nullable=False),
    sa.Column('refund_entry_id', sa.Uuid(), nullable=True),
    sa.Column('stock_shard', sa.SmallInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('issued', 'cancelled', 'used', 'expired')", name=op.f('ck_redemptions_status')),
    sa.CheckConstraint('quantity > 0 AND points > 0', name=op.f('ck_redemptions_positive')),
    sa.ForeignKeyConstraint(['citizen_id'], ['users.id'], name=op.f('fk_redemptions_citizen_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_redemptions_reward_id_rewards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemptions')),
    sa.UniqueConstraint('citizen_id', 'idempotency_key', name=op.f('uq_redemptions_citizen_id_idempotency_key'))
    )
    op.create_index('ix_redemptions_citizen_created', 'redemptions', ['citizen_id', 'created_at', 'id'], unique=False)
    op.create_index('ix_redemptions_citizen_reward_created', 'redemptions', ['citizen_id', 'reward_id', 'created_at'], unique=False)
    op.create_table('vouchers',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('reward_id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('redemption_id', sa.Uuid(), nullable=True),
    sa.Column('citizen_id', sa.Uuid(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(status = 'pooled') = (redemption_id IS NULL)", name=op.f('ck_vouchers_pooled')),
    sa.CheckConstraint("status IN ('pooled', 'issued', 'used', 'expired', 'cancelled')", name=op.f('ck_vouchers_status')),
    sa.ForeignKeyConstraint(['redemption_id'], ['redemptions.id'], name=op.f('fk_vouchers_redemption_id_redemptions')),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_vouchers_reward_id_rewards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vouchers')),
    sa.UniqueConstraint('code', name=op.f('uq_vouchers_code'))
    )
    op.create_index('ix_vouchers_expiry', 'vouchers', ['expires_at'], unique=False, postgresql_where=sa.text("status = 'issued'"))
    op.create_index('ix_vouchers_pool', 'vouchers', ['reward_id', 'id'], unique=False, postgresql_where=sa.text("status = 'pooled'"))
    op.create_index('ix_vouchers_redemption', 'vouchers', ['redemption_id'], unique=False)
    op.add_column('postings', sa.Column('lot', sa.SmallInteger(), nullable=True))
    # Citizen postings made before lots existed belong to the year they were made in.
    tz = os.environ.get("PROGRAMME_TZ", "Asia/Shanghai")
    op.execute("ALTER TABLE postings DISABLE TRIGGER postings_append_only")
    op.execute(sa.text(
        "UPDATE postings SET lot = extract(year FROM created_at AT TIME ZONE :tz) "
        "WHERE account = 'citizen'").bindparams(tz=tz))
    op.execute("ALTER TABLE postings ENABLE TRIGGER postings_append_only")
    op.execute("INSERT INTO point_lots (citizen_id, lot, balance) "
               "SELECT account_citizen_id, lot, sum(amount) FROM postings "
               "WHERE account = 'citizen' GROUP BY 1, 2 HAVING sum(amount) <> 0")
    op.create_check_constraint('citizen_lot', 'postings', "(account = 'citizen') = (lot IS NOT NULL)")
    op.execute(POSTINGS_ADDED)


def downgrade() -> None:
    op.execute(POSTINGS_ADDED_0004)
    op.drop_constraint(op.f('ck_postings_citizen_lot'), 'postings', type_='check')
    op.drop_column('postings', 'lot')
    op.drop_index('ix_vouchers_redemption', table_name='vouchers')
    op.drop_index('ix_vouchers_pool', table_name='vouchers', postgresql_where=sa.text("status = 'pooled'"))
    op.drop_index('ix_vouchers_expiry', table_name='vouchers', postgresql_where=sa.text("status = 'issued'"))
    op.drop_table('vouchers')
    op.drop_index('ix_redemptions_citizen_reward_created', table_name='redemptions')
    op.drop_index('ix_redemptions_citizen_created', table_name='redemptions')
    op.drop_table('redemptions')
    op.drop_table('point_lots')
    op.drop_table('reward_stock')
    op.drop_table('rewards')


# 0004's postings trigger, now also moving each citizen's lots: after the wallets (the order
# ``ledger.allocate`` locks them in), UPDATE before INSERT so a debit from a lot that does not
# exist fails the CHECK instead of creating a negative lot.
POSTINGS_ADDED = """
CREATE OR REPLACE FUNCTION ci_postings_added() RETURNS trigger LANGUAGE plpgsql AS $$
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


# The function as revision 0004 made it (balance and wallets, no lots), for the downgrade.
POSTINGS_ADDED_0004 = """CREATE OR REPLACE FUNCTION ci_postings_added() RETURNS trigger LANGUAGE plpgsql AS $$
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
"""
