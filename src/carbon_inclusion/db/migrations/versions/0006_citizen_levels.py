"""citizen levels by lifetime reduction (thresholds are data: seed/levels.json)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('levels',
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('min_reduction_g', sa.Numeric(precision=20, scale=3), nullable=False),
    sa.CheckConstraint('min_reduction_g >= 0', name=op.f('ck_levels_min_not_negative')),
    sa.PrimaryKeyConstraint('level', name=op.f('pk_levels')),
    sa.UniqueConstraint('min_reduction_g', name=op.f('uq_levels_min_reduction_g'))
    )


def downgrade() -> None:
    op.drop_table('levels')
