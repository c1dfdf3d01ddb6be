"""credit batches are proposed, verified (or returned with findings), then issued

``credit_batches.status`` is ``proposed`` → ``verified`` or ``returned`` → ``issued``; who
did each step and when are columns (``proposed_by`` is the former ``created_by``). Serials
exist only once a batch is issued: ``serial_prefix`` and ``first_serial`` are NULL before.
The database holds the rules the service follows:

* a verifier (or returner) is never the proposer (``verifier_not_proposer``);
* a returned batch states its findings; a verified one who verified it; an issued one has
  its serials and who issued it;
* a methodology has at most one batch in progress (proposed or verified) at a time
  (``uq_credit_batches_in_progress``), so the carry passes along one chain (see
  ``registry.batches``).

A returned batch's allocations move to ``credit_allocations_released`` (the record of what
it held), so ``credit_allocations`` keeps meaning "held by a batch" and its primary key on
the behaviour still forbids a gram in two batches.

Batches issued before this revision were never verified: they become ``issued`` with
``issued_by``/``issued_at`` their creator and creation time, and no verifier.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

_CHECKS = {
    'status': "status IN ('proposed', 'verified', 'returned', 'issued')",
    'serials_when_issued': "(status = 'issued') = (serial_prefix IS NOT NULL) "
                           "AND (serial_prefix IS NULL) = (first_serial IS NULL)",
    'verified_by_someone': "status <> 'verified' OR (verified_by IS NOT NULL "
                           "AND verified_at IS NOT NULL AND verification_body_id IS NOT NULL)",
    'returned_with_findings': "(status = 'returned') = (returned_at IS NOT NULL) AND "
                              "(status <> 'returned' OR (returned_by IS NOT NULL "
                              "AND cardinality(findings) > 0))",
    'issued_by_someone': "(status = 'issued') = (issued_at IS NOT NULL)",
    'verifier_not_proposer': "proposed_by IS NULL OR ((verified_by IS NULL OR verified_by "
                             "<> proposed_by) AND (returned_by IS NULL OR returned_by "
                             "<> proposed_by))",
}


def upgrade() -> None:
    op.alter_column('credit_batches', 'created_by', new_column_name='proposed_by')
    op.add_column('credit_batches', sa.Column('status', sa.String(length=16),
                                              server_default='issued', nullable=False))
    op.alter_column('credit_batches', 'status', server_default=None)
    for name in ('verified_by', 'returned_by', 'issued_by'):
        op.add_column('credit_batches', sa.Column(name, sa.Uuid(), nullable=True))
    for name in ('verified_at', 'returned_at', 'issued_at'):
        op.add_column('credit_batches', sa.Column(name, sa.DateTime(timezone=True),
                                                  nullable=True))
    op.add_column('credit_batches', sa.Column('verification_body_id', sa.Uuid(), nullable=True))
    op.create_foreign_key(op.f('fk_credit_batches_verification_body_id_organisations'),
                          'credit_batches', 'organisations', ['verification_body_id'], ['id'])
    op.add_column('credit_batches', sa.Column('verification_statement', sa.Text(),
                                              nullable=True))
    op.add_column('credit_batches', sa.Column('findings', postgresql.ARRAY(sa.Text()),
                                              server_default='{}', nullable=False))
    op.execute("UPDATE credit_batches SET issued_at = created_at, issued_by = proposed_by")
    op.alter_column('credit_batches', 'serial_prefix', nullable=True)
    op.alter_column('credit_batches', 'first_serial', nullable=True)
    for name, sql in _CHECKS.items():
        op.create_check_constraint(op.f(f'ck_credit_batches_{name}'), 'credit_batches', sql)
    op.create_index('uq_credit_batches_in_progress', 'credit_batches', ['methodology_code'],
                    unique=True, postgresql_where=sa.text("status IN ('proposed', 'verified')"))
    op.create_index('ix_credit_batches_status', 'credit_batches', ['status', 'id'])

    op.create_table('credit_allocations_released',
    sa.Column('batch_id', sa.Uuid(), nullable=False),
    sa.Column('behaviour_id', sa.Uuid(), nullable=False),
    sa.Column('grams', sa.Numeric(precision=20, scale=3), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
              nullable=False),
    sa.CheckConstraint('grams > 0', name=op.f('ck_credit_allocations_released_grams_positive')),
    sa.ForeignKeyConstraint(['batch_id'], ['credit_batches.id'],
                            name=op.f('fk_credit_allocations_released_batch_id_credit_batches')),
    sa.ForeignKeyConstraint(['behaviour_id'], ['behaviours.id'],
                            name=op.f('fk_credit_allocations_released_behaviour_id_behaviours')),
    sa.PrimaryKeyConstraint('batch_id', 'behaviour_id',
                            name=op.f('pk_credit_allocations_released'))
    )


def downgrade() -> None:
    # Batches that were never issued (and what they held or released) cannot be expressed
    # before this revision: they go.
    op.drop_table('credit_allocations_released')
    op.execute("DELETE FROM credit_allocations WHERE batch_id IN "
               "(SELECT id FROM credit_batches WHERE status <> 'issued')")
    op.execute("DELETE FROM credit_batches WHERE status <> 'issued'")
    op.drop_index('ix_credit_batches_status', table_name='credit_batches')
    op.drop_index('uq_credit_batches_in_progress', table_name='credit_batches')
    for name in _CHECKS:
        op.drop_constraint(op.f(f'ck_credit_batches_{name}'), 'credit_batches', type_='check')
    op.alter_column('credit_batches', 'first_serial', nullable=False)
    op.alter_column('credit_batches', 'serial_prefix', nullable=False)
    op.drop_constraint(op.f('fk_credit_batches_verification_body_id_organisations'),
                       'credit_batches', type_='foreignkey')
    for name in ('findings', 'verification_statement', 'verification_body_id', 'issued_at',
                 'returned_at', 'verified_at', 'issued_by', 'returned_by', 'verified_by',
                 'status'):
        op.drop_column('credit_batches', name)
    op.alter_column('credit_batches', 'proposed_by', new_column_name='created_by')
