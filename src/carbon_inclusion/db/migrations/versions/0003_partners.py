"""partners and bindings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 04:24:04.154772
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('partners',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
    sa.Column('secret_sealed', sa.Text(), nullable=False),
    sa.Column('previous_secret_sealed', sa.Text(), nullable=True),
    sa.Column('previous_valid_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("id ~ '^[a-z0-9][a-z0-9-]{1,31}$'", name=op.f('ck_partners_id_format')),
    sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f('ck_partners_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partners'))
    )
    op.create_table('bindings',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('ref_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('ref_hint', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['citizen_id'], ['users.id'], name=op.f('fk_bindings_citizen_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_bindings_partner_id_partners'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bindings'))
    )
    op.create_index('ix_bindings_citizen_id', 'bindings', ['citizen_id'], unique=False)
    op.create_index('uq_bindings_active_ref', 'bindings', ['partner_id', 'ref_hash'], unique=True, postgresql_where=sa.text('removed_at IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_bindings_active_ref', table_name='bindings', postgresql_where=sa.text('removed_at IS NULL'))
    op.drop_index('ix_bindings_citizen_id', table_name='bindings')
    op.drop_table('bindings')
    op.drop_table('partners')
