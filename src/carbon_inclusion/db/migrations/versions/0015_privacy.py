"""personal data (PIPL): consents to the privacy notice, deleted accounts

``privacy_consents`` records each citizen's acceptance of a version of the privacy notice
(``seed/privacy/notice-v<N>.json``); rows are only ever added (a trigger refuses UPDATE and
DELETE). ``users.status`` may now be ``deleted``: the row stays, pseudonymous, so ledger
entries, credit batches and certificates keep their owner.

Revision ID: 0015
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'privacy_consents',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('user_id', sa.Uuid(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('accepted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.CheckConstraint('version >= 1', name=op.f('ck_privacy_consents_version_positive')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='RESTRICT',
                                name=op.f('fk_privacy_consents_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_consents')),
    )
    op.create_index('ix_privacy_consents_user', 'privacy_consents', ['user_id', 'version'])
    op.execute("""
        CREATE FUNCTION privacy_consents_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'privacy_consents is append-only' USING ERRCODE = 'P0001';
        END $$;
    """)
    op.execute("""
        CREATE TRIGGER privacy_consents_append_only
        BEFORE UPDATE OR DELETE ON privacy_consents
        FOR EACH ROW EXECUTE FUNCTION privacy_consents_append_only();
    """)
    op.drop_constraint(op.f('ck_users_status'), 'users', type_='check')
    op.create_check_constraint(op.f('ck_users_status'), 'users',
                               "status IN ('active', 'disabled', 'deleted')")


def downgrade() -> None:
    op.execute("UPDATE users SET status = 'disabled' WHERE status = 'deleted'")
    op.drop_constraint(op.f('ck_users_status'), 'users', type_='check')
    op.create_check_constraint(op.f('ck_users_status'), 'users', "status IN ('active', 'disabled')")
    op.execute("DROP TRIGGER privacy_consents_append_only ON privacy_consents")
    op.execute("DROP FUNCTION privacy_consents_append_only()")
    op.drop_index('ix_privacy_consents_user', table_name='privacy_consents')
    op.drop_table('privacy_consents')
