"""photos: the photo evidence of self-reports

A photo's metadata (owner, object key, type, size, SHA-256, the behaviour it is attached
to); its bytes live in the object store (STORAGE_URL). Distributed by citizen like
behaviours: every unique key holds the citizen id, and the foreign key to the behaviour
holds its whole key (id, occurred_at, citizen_id), so it stays on the citizen's shard.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'photos',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('citizen_id', sa.Uuid(), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('content_type', sa.String(length=32), nullable=False),
        sa.Column('bytes', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.LargeBinary(length=32), nullable=False),
        sa.Column('idempotency_key', sa.String(length=128), nullable=False),
        sa.Column('request_hash', sa.LargeBinary(length=32), nullable=False),
        sa.Column('behaviour_id', sa.Uuid(), nullable=True),
        sa.Column('behaviour_occurred_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.Column('attached_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("content_type IN ('image/jpeg', 'image/png', 'image/webp')",
                           name=op.f('ck_photos_content_type')),
        sa.CheckConstraint('bytes > 0', name=op.f('ck_photos_bytes_positive')),
        sa.CheckConstraint('(behaviour_id IS NULL) = (behaviour_occurred_at IS NULL)',
                           name=op.f('ck_photos_behaviour_whole')),
        sa.ForeignKeyConstraint(['citizen_id'], ['users.id'], ondelete='RESTRICT',
                                name=op.f('fk_photos_citizen_id_users')),
        sa.ForeignKeyConstraint(['behaviour_id', 'behaviour_occurred_at', 'citizen_id'],
                                ['behaviours.id', 'behaviours.occurred_at',
                                 'behaviours.citizen_id'],
                                ondelete='RESTRICT', name='fk_photos_behaviour_behaviours'),
        sa.PrimaryKeyConstraint('citizen_id', 'id', name=op.f('pk_photos')),
        sa.UniqueConstraint('citizen_id', 'idempotency_key',
                            name=op.f('uq_photos_citizen_id_idempotency_key')),
        sa.UniqueConstraint('citizen_id', 'behaviour_id',
                            name=op.f('uq_photos_citizen_id_behaviour_id')),
        sa.UniqueConstraint('citizen_id', 'key', name=op.f('uq_photos_citizen_id_key')),
    )
    op.create_index('ix_photos_id', 'photos', ['id'])


def downgrade() -> None:
    op.drop_index('ix_photos_id', table_name='photos')
    op.drop_table('photos')
