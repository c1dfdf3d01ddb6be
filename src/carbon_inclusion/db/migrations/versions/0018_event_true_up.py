"""events neutralised on estimates, trued up from actual figures

An event's figures have a ``basis``: ``estimated`` when recorded on or before its last day,
``actual`` after it. ``event_actuals`` holds the actual figures of an event first measured on
estimates (once per event). A retirement for an event has a ``stage``: ``pre_event`` (on the
estimate) or ``post_event`` (on actual figures) neutralise it, at most one of the two, and a
``true_up`` retires the shortfall the actual figures showed after a pre-event one. A
certificate may be ``superseded`` (an estimate's, by the final one), never edited.

Existing rows: an event recorded after its last day (in Asia/Shanghai, the programme's
default zone) is ``actual``; an event retirement is ``pre_event`` when its event's figures
are estimated, else ``post_event``.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('events', sa.Column('basis', sa.String(length=16), nullable=True))
    op.execute("UPDATE events SET basis = CASE WHEN (created_at AT TIME ZONE 'Asia/Shanghai')"
               "::date > ends_on THEN 'actual' ELSE 'estimated' END")
    op.alter_column('events', 'basis', nullable=False)
    op.create_check_constraint(op.f('ck_events_basis'), 'events',
                               "basis IN ('estimated', 'actual')")

    op.create_table('event_actuals',
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('attendees', sa.Integer(), nullable=False),
    sa.Column('inputs', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('lines', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('breakdown', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('total_g', sa.Numeric(precision=20, scale=3), nullable=False),
    sa.Column('methodology_id', sa.Uuid(), nullable=False),
    sa.Column('methodology_code', sa.String(length=32), nullable=False),
    sa.Column('methodology_version', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('request_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('submitted_by', sa.Uuid(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('total_g >= 0', name=op.f('ck_event_actuals_total_not_negative')),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_event_actuals_event_id_events')),
    sa.ForeignKeyConstraint(['methodology_id'], ['methodology_versions.id'], name=op.f('fk_event_actuals_methodology_id_methodology_versions')),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_event_actuals'))
    )

    op.add_column('retirements', sa.Column('stage', sa.String(length=16), nullable=True))
    op.execute("UPDATE retirements t SET stage = CASE e.basis WHEN 'estimated' THEN 'pre_event' "
               "ELSE 'post_event' END FROM events e WHERE e.id = t.event_id")
    op.create_check_constraint(op.f('ck_retirements_stage'), 'retirements',
                               "stage IN ('pre_event', 'post_event', 'true_up')")
    op.create_check_constraint(op.f('ck_retirements_event_stage'), 'retirements',
                               "(kind = 'event') = (stage IS NOT NULL)")
    op.drop_constraint(op.f('uq_retirements_event_id'), 'retirements', type_='unique')
    op.create_index('uq_retirements_event_neutralised', 'retirements', ['event_id'],
                    unique=True, postgresql_where="stage IN ('pre_event', 'post_event')")
    op.create_index('uq_retirements_event_true_up', 'retirements', ['event_id'], unique=True,
                    postgresql_where="stage = 'true_up'")

    op.add_column('certificates', sa.Column('superseded_at', sa.DateTime(timezone=True),
                                            nullable=True))
    op.drop_constraint(op.f('ck_certificates_status'), 'certificates', type_='check')
    op.create_check_constraint(op.f('ck_certificates_status'), 'certificates',
                               "status IN ('valid', 'cancelled', 'superseded')")
    op.drop_constraint(op.f('ck_certificates_cancel_reason'), 'certificates', type_='check')
    op.create_check_constraint(op.f('ck_certificates_cancel_reason'), 'certificates',
                               "status <> 'cancelled' OR cancel_reason IS NOT NULL")
    op.create_check_constraint(op.f('ck_certificates_superseded_by'), 'certificates',
                               "status <> 'superseded' OR (replaced_by IS NOT NULL AND "
                               "superseded_at IS NOT NULL)")
    op.execute(CERTIFICATE_FIXED)


# A certificate is never edited: only its status may go from valid to cancelled (with the
# reason and time, then the replacement once) or to superseded (with the final certificate
# and the time, at once), and none is ever deleted.
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
           OR NEW.superseded_at IS DISTINCT FROM OLD.superseded_at
           OR (OLD.replaced_by IS NOT NULL
               AND NEW.replaced_by IS DISTINCT FROM OLD.replaced_by)))
       -- once superseded, nothing changes
       OR (OLD.status = 'superseded' AND ROW(NEW.status, NEW.cancel_reason, NEW.cancelled_at,
           NEW.superseded_at, NEW.replaced_by) IS DISTINCT FROM ROW(OLD.status,
           OLD.cancel_reason, OLD.cancelled_at, OLD.superseded_at, OLD.replaced_by)) THEN
        RAISE EXCEPTION 'certificate % is fixed; cancel it and issue another', OLD.number
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
"""

# As revision 0010 wrote it (restored on the way down).
CERTIFICATE_FIXED_0010 = importlib.import_module(
    "carbon_inclusion.db.migrations.versions.0010_events_and_certificates").CERTIFICATE_FIXED


def downgrade() -> None:
    # Actual figures, superseded certificates and true-up retirements have no place in the
    # older schema: refuse rather than lose them.
    op.execute("""
        DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM event_actuals)
               OR EXISTS (SELECT 1 FROM certificates WHERE status = 'superseded')
               OR EXISTS (SELECT 1 FROM retirements WHERE stage = 'true_up') THEN
                RAISE EXCEPTION 'events have actual figures or were trued up; they cannot be downgraded';
            END IF;
        END $$""")
    op.execute(CERTIFICATE_FIXED_0010)
    op.drop_constraint(op.f('ck_certificates_superseded_by'), 'certificates', type_='check')
    op.drop_constraint(op.f('ck_certificates_cancel_reason'), 'certificates', type_='check')
    op.create_check_constraint(op.f('ck_certificates_cancel_reason'), 'certificates',
                               "status = 'valid' OR cancel_reason IS NOT NULL")
    op.drop_constraint(op.f('ck_certificates_status'), 'certificates', type_='check')
    op.create_check_constraint(op.f('ck_certificates_status'), 'certificates',
                               "status IN ('valid', 'cancelled')")
    op.drop_column('certificates', 'superseded_at')
    op.drop_index('uq_retirements_event_true_up', table_name='retirements',
                  postgresql_where="stage = 'true_up'")
    op.drop_index('uq_retirements_event_neutralised', table_name='retirements',
                  postgresql_where="stage IN ('pre_event', 'post_event')")
    op.create_unique_constraint(op.f('uq_retirements_event_id'), 'retirements', ['event_id'])
    op.drop_constraint(op.f('ck_retirements_event_stage'), 'retirements', type_='check')
    op.drop_constraint(op.f('ck_retirements_stage'), 'retirements', type_='check')
    op.drop_column('retirements', 'stage')
    op.drop_table('event_actuals')
    op.drop_constraint(op.f('ck_events_basis'), 'events', type_='check')
    op.drop_column('events', 'basis')
