"""bindings need the partner's proof; partners have a scope

A binding is ``pending`` until the partner confirms it (a one-time code the partner's own
channel shows, or a signed confirmation); only a confirmed binding is unique per reference
and receives records. Binding codes are stored as keyed hashes. Each partner has the
behaviour types (and optionally the districts) it may report; existing partners get the
type of their kind, and existing bindings are taken as confirmed.

Revision ID: 0013
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('partners', sa.Column(
        'behaviour_types', postgresql.ARRAY(sa.Text()), nullable=False,
        server_default=sa.text("'{}'::text[]")))
    op.add_column('partners', sa.Column('districts', postgresql.ARRAY(sa.Text()),
                                        nullable=True))
    op.execute("""
        UPDATE partners SET behaviour_types = CASE kind
            WHEN 'transit' THEN ARRAY['transit_trip']
            WHEN 'charging' THEN ARRAY['ev_charging']
            WHEN 'waste' THEN ARRAY['waste_sorting']
            ELSE '{}'::text[] END
    """)
    op.add_column('bindings', sa.Column('status', sa.String(16), nullable=False,
                                        server_default='confirmed'))
    op.add_column('bindings', sa.Column('confirmed_at', sa.DateTime(timezone=True),
                                        nullable=True))
    op.add_column('bindings', sa.Column('confirmed_by', sa.String(16), nullable=True))
    op.execute("UPDATE bindings SET confirmed_at = created_at, confirmed_by = 'migration'")
    op.alter_column('bindings', 'status', server_default='pending')
    op.create_check_constraint(op.f('ck_bindings_status'), 'bindings', "status IN ('pending', 'confirmed')")
    op.drop_index('uq_bindings_active_ref', table_name='bindings',
                  postgresql_where=sa.text('removed_at IS NULL'))
    op.create_index('uq_bindings_active_ref', 'bindings', ['partner_id', 'ref_hash'],
                    unique=True,
                    postgresql_where=sa.text("removed_at IS NULL AND status = 'confirmed'"))
    op.create_table(
        'binding_codes',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('partner_id', sa.String(32), nullable=False),
        sa.Column('ref_hash', sa.LargeBinary(32), nullable=False),
        sa.Column('code_hash', sa.LargeBinary(32), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text('now()')),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id'],
                                name=op.f('fk_binding_codes_partner_id_partners'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_binding_codes')),
    )
    op.create_index('ix_binding_codes_ref', 'binding_codes', ['partner_id', 'ref_hash'])


def downgrade() -> None:
    op.drop_index('ix_binding_codes_ref', table_name='binding_codes')
    op.drop_table('binding_codes')
    op.drop_index('uq_bindings_active_ref', table_name='bindings',
                  postgresql_where=sa.text("removed_at IS NULL AND status = 'confirmed'"))
    op.execute("UPDATE bindings SET removed_at = now() "
               "WHERE status = 'pending' AND removed_at IS NULL")
    op.create_index('uq_bindings_active_ref', 'bindings', ['partner_id', 'ref_hash'],
                    unique=True, postgresql_where=sa.text('removed_at IS NULL'))
    op.drop_constraint(op.f('ck_bindings_status'), 'bindings', type_='check')
    op.drop_column('bindings', 'confirmed_by')
    op.drop_column('bindings', 'confirmed_at')
    op.drop_column('bindings', 'status')
    op.drop_column('partners', 'districts')
    op.drop_column('partners', 'behaviour_types')
