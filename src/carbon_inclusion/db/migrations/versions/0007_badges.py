"""badges, versioned, and awards once per citizen and level; bonus entries

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('badges',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('version', sa.SmallInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('active', 'retired')", name=op.f('ck_badges_status')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_badges'))
    )
    op.create_table('badge_versions',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('version', sa.SmallInteger(), nullable=False),
    sa.Column('document', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['code'], ['badges.code'], name=op.f('fk_badge_versions_code_badges')),
    sa.PrimaryKeyConstraint('code', 'version', name=op.f('pk_badge_versions'))
    )
    op.create_table('badge_awards',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('citizen_id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('version', sa.SmallInteger(), nullable=False),
    sa.Column('bonus_points', sa.BigInteger(), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=True),
    sa.Column('awarded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('bonus_points >= 0', name=op.f('ck_badge_awards_bonus_not_negative')),
    sa.ForeignKeyConstraint(['citizen_id'], ['users.id'], name=op.f('fk_badge_awards_citizen_id_users')),
    sa.ForeignKeyConstraint(['code'], ['badges.code'], name=op.f('fk_badge_awards_code_badges')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_badge_awards')),
    sa.UniqueConstraint('citizen_id', 'code', 'level', name=op.f('uq_badge_awards_citizen_id_code_level'))
    )
    _kinds(ENTRY_KINDS + ", 'bonus'", ACCOUNTS + ", 'bonus'")


ENTRY_KINDS = "'behaviour_credit', 'reversal', 'redemption', 'redemption_refund', 'expiry'"
ACCOUNTS = "'citizen', 'issuance', 'redemption', 'reversal', 'expiry'"


def _kinds(kinds: str, accounts: str) -> None:
    """Bonuses (badges, challenges) are paid from a programme account of their own."""
    op.drop_constraint(op.f('ck_journal_entries_kind'), 'journal_entries', type_='check')
    op.create_check_constraint(op.f('ck_journal_entries_kind'), 'journal_entries',
                               f"kind IN ({kinds})")
    op.drop_constraint(op.f('ck_postings_account'), 'postings', type_='check')
    op.create_check_constraint(op.f('ck_postings_account'), 'postings',
                               f"account IN ({accounts})")


def downgrade() -> None:
    _kinds(ENTRY_KINDS, ACCOUNTS)  # fails, as it should, while bonus entries exist
    op.drop_table('badge_awards')
    op.drop_table('badge_versions')
    op.drop_table('badges')
