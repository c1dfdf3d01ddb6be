"""events, retirements and certificates

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('events',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('venue', sa.Text(), nullable=False),
    sa.Column('attendees', sa.Integer(), nullable=False),
    sa.Column('inputs', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('lines', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('breakdown', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('total_g', sa.Numeric(precision=20, scale=3), nullable=False),
    sa.Column('methodology_id', sa.Uuid(), nullable=False),
    sa.Column('methodology_code', sa.String(length=32), nullable=False),
    sa.Column('methodology_version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_events_dates_order')),
    sa.CheckConstraint('total_g >= 0', name=op.f('ck_events_total_not_negative')),
    sa.ForeignKeyConstraint(['methodology_id'], ['methodology_versions.id'], name=op.f('fk_events_methodology_id_methodology_versions')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_events_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    op.create_index('ix_events_organisation', 'events', ['organisation_id', 'id'], unique=False)
    op.create_table('retirements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=True),
    sa.Column('quantity_t', sa.Integer(), nullable=False),
    sa.Column('purpose', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(kind = 'event') = (event_id IS NOT NULL)", name=op.f('ck_retirements_event_kind')),
    sa.CheckConstraint("kind IN ('event', 'compliance')", name=op.f('ck_retirements_kind')),
    sa.CheckConstraint('quantity_t > 0', name=op.f('ck_retirements_quantity_positive')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_retirements_event_id_events')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_retirements_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retirements')),
    sa.UniqueConstraint('event_id', name=op.f('uq_retirements_event_id'))
    )
    op.create_index(op.f('ix_retirements_organisation_id'), 'retirements', ['organisation_id'], unique=False)
    op.create_table('certificates',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.String(length=48), nullable=False),
    sa.Column('retirement_id', sa.Uuid(), nullable=False),
    sa.Column('content', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('replaced_by', sa.Uuid(), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status = 'valid' OR cancel_reason IS NOT NULL", name=op.f('ck_certificates_cancel_reason')),
    sa.CheckConstraint("status IN ('valid', 'cancelled')", name=op.f('ck_certificates_status')),
    sa.ForeignKeyConstraint(['retirement_id'], ['retirements.id'], name=op.f('fk_certificates_retirement_id_retirements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates')),
    sa.UniqueConstraint('number', name=op.f('uq_certificates_number'))
    )
    op.create_index('uq_certificates_valid_retirement', 'certificates', ['retirement_id'], unique=True, postgresql_where="status = 'valid'")
    op.add_column('credit_blocks', sa.Column('retirement_id', sa.Uuid(), nullable=True))
    op.create_index(op.f('ix_credit_blocks_retirement_id'), 'credit_blocks', ['retirement_id'], unique=False)
    op.create_foreign_key(op.f('fk_credit_blocks_retirement_id_retirements'), 'credit_blocks', 'retirements', ['retirement_id'], ['id'])
    op.create_check_constraint(op.f('ck_credit_blocks_retired_for'), 'credit_blocks',
                               "(state = 'retired') = (retirement_id IS NOT NULL)")
    op.execute(CERTIFICATE_FIXED)
    op.execute("CREATE TRIGGER certificates_fixed BEFORE UPDATE OR DELETE ON certificates "
               "FOR EACH ROW EXECUTE FUNCTION ci_certificate_fixed()")


# A certificate is never edited: only its status may go from valid to cancelled (with the
# reason and time, then the replacement once), and none is ever deleted.
CERTIFICATE_FIXED = """
CREATE OR REPLACE FUNCTION ci_certificate_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'certificates are never deleted' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.content IS DISTINCT FROM OLD.content OR NEW.sha256 IS DISTINCT FROM OLD.sha256
       OR NEW.number IS DISTINCT FROM OLD.number
       OR NEW.retirement_id IS DISTINCT FROM OLD.retirement_id
       OR NEW.issued_at IS DISTINCT FROM OLD.issued_at
       -- once cancelled, only the replacement may still be filled in, once
       OR (OLD.status = 'cancelled' AND (NEW.status <> 'cancelled'
           OR NEW.cancel_reason IS DISTINCT FROM OLD.cancel_reason
           OR NEW.cancelled_at IS DISTINCT FROM OLD.cancelled_at
           OR (OLD.replaced_by IS NOT NULL
               AND NEW.replaced_by IS DISTINCT FROM OLD.replaced_by))) THEN
        RAISE EXCEPTION 'certificate % is fixed; cancel it and issue another', OLD.number
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
"""


def downgrade() -> None:
    op.execute("DROP TRIGGER certificates_fixed ON certificates")
    op.execute("DROP FUNCTION ci_certificate_fixed()")
    op.drop_constraint(op.f('ck_credit_blocks_retired_for'), 'credit_blocks', type_='check')
    op.drop_constraint(op.f('fk_credit_blocks_retirement_id_retirements'), 'credit_blocks', type_='foreignkey')
    op.drop_index(op.f('ix_credit_blocks_retirement_id'), table_name='credit_blocks')
    op.drop_column('credit_blocks', 'retirement_id')
    op.drop_index('uq_certificates_valid_retirement', table_name='certificates', postgresql_where="status = 'valid'")
    op.drop_table('certificates')
    op.drop_index(op.f('ix_retirements_organisation_id'), table_name='retirements')
    op.drop_table('retirements')
    op.drop_index('ix_events_organisation', table_name='events')
    op.drop_table('events')
