"""phone verification: users.phone_verified_at, the pending one-time code, sms_outbox

Accounts registered from now on are unverified until the citizen enters the one-time code
sent to their phone. Accounts that exist already were made before verification existed and
are treated as verified (their ``created_at``), so nobody is locked out by the upgrade.
``sms_outbox`` is what the development SMS sender writes instead of sending.

Phone numbers are encrypted at rest: ``users.phone`` becomes ``phone_ciphertext`` (AES-GCM)
and ``phone_index`` (a blind HMAC index, unique as ``uq_users_phone`` was), each existing row
converted here with the key ``Settings.from_env()`` describes (PHONE_KEY, or SECRET_KEY in
development), through ``security.phone_crypto`` (pure; the one definition of the format).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def _cipher():
    from carbon_inclusion.security.phone_crypto import phone_cipher_of
    from carbon_inclusion.settings import Settings

    return phone_cipher_of(Settings.from_env())


def _encrypt_phones() -> None:
    op.add_column('users', sa.Column('phone_index', sa.LargeBinary(length=32), nullable=True))
    op.add_column('users', sa.Column('phone_ciphertext', sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, phone FROM users")).all()
    if rows:
        cipher = _cipher()
        conn.execute(sa.text("UPDATE users SET phone_index = :i, phone_ciphertext = :c WHERE id = :id"),
                     [{"id": r.id, "i": cipher.index(r.phone), "c": cipher.encrypt(r.phone)} for r in rows])
    op.alter_column('users', 'phone_index', nullable=False)
    op.alter_column('users', 'phone_ciphertext', nullable=False)
    op.drop_constraint('uq_users_phone', 'users', type_='unique')
    op.drop_column('users', 'phone')
    op.create_unique_constraint('uq_users_phone', 'users', ['phone_index'])


def _decrypt_phones() -> None:
    op.add_column('users', sa.Column('phone', sa.String(length=20), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, phone_ciphertext FROM users")).all()
    if rows:
        cipher = _cipher()
        conn.execute(sa.text("UPDATE users SET phone = :p WHERE id = :id"),
                     [{"id": r.id, "p": cipher.decrypt(r.phone_ciphertext)} for r in rows])
    op.alter_column('users', 'phone', nullable=False)
    op.drop_constraint('uq_users_phone', 'users', type_='unique')
    op.drop_column('users', 'phone_ciphertext')
    op.drop_column('users', 'phone_index')
    op.create_unique_constraint('uq_users_phone', 'users', ['phone'])


def upgrade() -> None:
    _encrypt_phones()
    op.add_column('users', sa.Column('phone_verified_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('users', sa.Column('phone_code_hash', sa.LargeBinary(length=32), nullable=True))
    op.add_column('users', sa.Column('phone_code_expires_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE users SET phone_verified_at = created_at")
    op.create_table(
        'sms_outbox',
        sa.Column('id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('code', sa.String(length=12), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_outbox')),
    )
    op.create_index('ix_sms_outbox_phone_sent_at', 'sms_outbox', ['phone', 'sent_at'])


def downgrade() -> None:
    op.drop_index('ix_sms_outbox_phone_sent_at', table_name='sms_outbox')
    op.drop_table('sms_outbox')
    op.drop_column('users', 'phone_code_expires_at')
    op.drop_column('users', 'phone_code_hash')
    op.drop_column('users', 'phone_verified_at')
    _decrypt_phones()
