"""each behaviour a batch holds has a line number in it

``credit_allocations.line`` (and ``credit_allocations_released.line``, kept when a batch is
returned) numbers a batch's behaviours from 1, by programme day then behaviour: the stable,
citable order of the batch's public behaviour list (``registry/provenance.py``), which pages
by line, so neither a cursor nor a row names a behaviour's id. Unique per batch; it replaces
the plain index on ``batch_id``. Existing allocations are numbered in that order.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

_TABLES = ('credit_allocations', 'credit_allocations_released')


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column('line', sa.Integer(), nullable=True))
        op.execute(f"""
            UPDATE {table} a SET line = n.line
              FROM (SELECT x.batch_id, x.behaviour_id, row_number() OVER (
                           PARTITION BY x.batch_id ORDER BY b.programme_day, x.behaviour_id
                       ) AS line
                      FROM {table} x JOIN behaviours b ON b.id = x.behaviour_id) n
             WHERE a.batch_id = n.batch_id AND a.behaviour_id = n.behaviour_id""")  # noqa: S608
        op.alter_column(table, 'line', nullable=False)
        op.create_check_constraint(op.f(f'ck_{table}_line_positive'), table, 'line >= 1')
        op.create_unique_constraint(op.f(f'uq_{table}_batch_id_line'), table,
                                    ['batch_id', 'line'])
    op.drop_index('ix_credit_allocations_batch_id', table_name='credit_allocations')


def downgrade() -> None:
    op.create_index('ix_credit_allocations_batch_id', 'credit_allocations', ['batch_id'])
    for table in _TABLES:
        op.drop_constraint(op.f(f'uq_{table}_batch_id_line'), table, type_='unique')
        op.drop_constraint(op.f(f'ck_{table}_line_positive'), table, type_='check')
        op.drop_column(table, 'line')
