"""challenges and their participants

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('challenges',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('title_zh', sa.Text(), nullable=False),
    sa.Column('title_en', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('behaviour', sa.String(length=64), nullable=True),
    sa.Column('measure', sa.String(length=16), nullable=False),
    sa.Column('target', sa.Numeric(precision=20, scale=3), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('bonus_points', sa.BigInteger(), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('individual', 'district')", name=op.f('ck_challenges_kind')),
    sa.CheckConstraint("measure IN ('count', 'grams')", name=op.f('ck_challenges_measure')),
    sa.CheckConstraint('bonus_points >= 0', name=op.f('ck_challenges_bonus_not_negative')),
    sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_challenges_period_order')),
    sa.CheckConstraint('target > 0', name=op.f('ck_challenges_target_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_challenges'))
    )
    op.create_table('challenge_participants',
    sa.Column('challenge_id', sa.Uuid(), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('district_code', sa.String(length=32), nullable=True),
    sa.Column('joined_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('bonus_points', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['challenge_id'], ['challenges.id'], name=op.f('fk_challenge_participants_challenge_id_challenges')),
    sa.ForeignKeyConstraint(['citizen_id'], ['users.id'], name=op.f('fk_challenge_participants_citizen_id_users')),
    sa.PrimaryKeyConstraint('challenge_id', 'citizen_id', name=op.f('pk_challenge_participants'))
    )
    op.create_index(op.f('ix_challenge_participants_citizen_id'), 'challenge_participants', ['citizen_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_challenge_participants_citizen_id'), table_name='challenge_participants')
    op.drop_table('challenge_participants')
    op.drop_table('challenges')
