"""credit registry: batches, allocations, serial blocks, orders

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('credit_batches',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('methodology_code', sa.String(length=32), nullable=False),
    sa.Column('methodology_versions', postgresql.ARRAY(sa.SmallInteger()), nullable=False),
    sa.Column('vintage_from', sa.Date(), nullable=False),
    sa.Column('vintage_to', sa.Date(), nullable=False),
    sa.Column('serial_prefix', sa.String(length=48), nullable=False),
    sa.Column('first_serial', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('allocated_g', sa.Numeric(precision=20, scale=3), nullable=False),
    sa.Column('carry_in_g', sa.Numeric(precision=20, scale=3), nullable=False),
    sa.Column('carry_out_g', sa.Numeric(precision=20, scale=3), nullable=False),
    sa.Column('behaviours', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('carry_in_g + allocated_g - carry_out_g = quantity * 1000000', name=op.f('ck_credit_batches_whole_tonnes')),
    sa.CheckConstraint('carry_out_g >= 0 AND carry_out_g < 1000000 AND carry_in_g >= 0', name=op.f('ck_credit_batches_carry_under_a_tonne')),
    sa.CheckConstraint('first_serial >= 1', name=op.f('ck_credit_batches_first_serial_positive')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_credit_batches_quantity_positive')),
    sa.CheckConstraint('vintage_to >= vintage_from', name=op.f('ck_credit_batches_vintage_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_batches')),
    sa.UniqueConstraint('serial_prefix', 'first_serial', name=op.f('uq_credit_batches_serial_prefix_first_serial'))
    )
    op.create_index(op.f('ix_credit_batches_methodology_code'), 'credit_batches', ['methodology_code'], unique=False)
    op.create_table('credit_orders',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=False),
    sa.Column('quantity_t', sa.Integer(), nullable=False),
    sa.Column('price_cny_per_t', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('amount_cny', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payment_reference', sa.Text(), nullable=True),
    sa.Column('confirmed_by', sa.Uuid(), nullable=True),
    sa.CheckConstraint("status IN ('reserved', 'paid', 'expired')", name=op.f('ck_credit_orders_status')),
    sa.CheckConstraint('quantity_t > 0', name=op.f('ck_credit_orders_quantity_positive')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_credit_orders_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_orders')),
    sa.UniqueConstraint('organisation_id', 'idempotency_key', name=op.f('uq_credit_orders_organisation_id_idempotency_key'))
    )
    op.create_table('credit_blocks',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=False),
    sa.Column('first_serial', sa.Integer(), nullable=False),
    sa.Column('last_serial', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=True),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(state IN ('available', 'cancelled')) = (organisation_id IS NULL)", name=op.f('ck_credit_blocks_owner')),
    sa.CheckConstraint("state <> 'cancelled' OR reason IS NOT NULL", name=op.f('ck_credit_blocks_cancel_reason')),
    sa.CheckConstraint("state <> 'reserved' OR order_id IS NOT NULL", name=op.f('ck_credit_blocks_reserved_by_order')),
    sa.CheckConstraint("state IN ('available', 'reserved', 'held', 'retired', 'cancelled')", name=op.f('ck_credit_blocks_state')),
    sa.CheckConstraint('last_serial >= first_serial', name=op.f('ck_credit_blocks_range_order')),
    sa.ForeignKeyConstraint(['batch_id'], ['credit_batches.id'], name=op.f('fk_credit_blocks_batch_id_credit_batches')),
    sa.ForeignKeyConstraint(['order_id'], ['credit_orders.id'], name=op.f('fk_credit_blocks_order_id_credit_orders')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_credit_blocks_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_blocks'))
    )
    op.create_index(op.f('ix_credit_blocks_order_id'), 'credit_blocks', ['order_id'], unique=False)
    op.create_index('ix_credit_blocks_organisation', 'credit_blocks', ['organisation_id', 'state'], unique=False)
    op.create_index('ix_credit_blocks_state', 'credit_blocks', ['state', 'batch_id', 'first_serial'], unique=False)
    op.create_table('credit_allocations',
    sa.Column('behaviour_id', sa.Uuid(), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=False),
    sa.Column('grams', sa.Numeric(precision=20, scale=3), nullable=False),
    sa.CheckConstraint('grams > 0', name=op.f('ck_credit_allocations_grams_positive')),
    sa.ForeignKeyConstraint(['batch_id'], ['credit_batches.id'], name=op.f('fk_credit_allocations_batch_id_credit_batches')),
    sa.ForeignKeyConstraint(['behaviour_id'], ['behaviours.id'], name=op.f('fk_credit_allocations_behaviour_id_behaviours')),
    sa.PrimaryKeyConstraint('behaviour_id', name=op.f('pk_credit_allocations'))
    )
    op.create_index(op.f('ix_credit_allocations_batch_id'), 'credit_allocations', ['batch_id'], unique=False)
    # No serial in two blocks of a batch, whatever the application does (btree_gist: 0002).
    op.execute(
        "ALTER TABLE credit_blocks ADD CONSTRAINT ex_credit_blocks_no_overlap "
        "EXCLUDE USING gist (batch_id WITH =, "
        "int4range(first_serial, last_serial, '[]') WITH &&)")


def downgrade() -> None:
    op.drop_index(op.f('ix_credit_allocations_batch_id'), table_name='credit_allocations')
    op.drop_table('credit_allocations')
    op.drop_index('ix_credit_blocks_state', table_name='credit_blocks')
    op.drop_index('ix_credit_blocks_organisation', table_name='credit_blocks')
    op.drop_index(op.f('ix_credit_blocks_order_id'), table_name='credit_blocks')
    op.drop_table('credit_blocks')
    op.drop_table('credit_orders')
    op.drop_index(op.f('ix_credit_batches_methodology_code'), table_name='credit_batches')
    op.drop_table('credit_batches')
