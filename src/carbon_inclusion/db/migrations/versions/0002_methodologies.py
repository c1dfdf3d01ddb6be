"""methodologies and audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 04:09:52.501085
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject_type', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.Text(), nullable=False),
    sa.Column('document_sha256', sa.String(length=64), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_subject', 'audit_log', ['subject_type', 'subject_id', 'at'], unique=False)
    op.create_table('methodology_versions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('behaviour', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), server_default='behaviour', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='draft', nullable=False),
    sa.Column('document', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('in_force_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('in_force_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retire_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('draft', 'published', 'retired')", name=op.f('ck_methodology_versions_status')),
    sa.CheckConstraint('in_force_to IS NULL OR in_force_to >= in_force_from', name=op.f('ck_methodology_versions_period_order')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_methodology_versions_version_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_methodology_versions')),
    sa.UniqueConstraint('code', 'version', name=op.f('uq_methodology_versions_code_version'))
    )
    op.create_index('ix_methodology_versions_behaviour', 'methodology_versions', ['behaviour', 'in_force_from'], unique=False, postgresql_where="status <> 'draft'")

    # Periods in force of one code never overlap (drafts do not count).
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(
        "ALTER TABLE methodology_versions ADD CONSTRAINT ex_methodology_versions_period "
        "EXCLUDE USING gist (code WITH =, tstzrange(in_force_from, in_force_to, '[)') WITH &&) "
        "WHERE (status <> 'draft')"
    )
    # Append-only tables refuse UPDATE and DELETE, whoever connects.
    op.execute("""
        CREATE FUNCTION ci_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
        END $$
    """)
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION ci_append_only()"
    )
    # A published version's document, hash and identity never change; only drafts are deleted.
    op.execute("""
        CREATE FUNCTION ci_methodology_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                IF OLD.status <> 'draft' THEN
                    RAISE EXCEPTION 'published methodology versions cannot be deleted'
                        USING ERRCODE = 'restrict_violation';
                END IF;
                RETURN OLD;
            END IF;
            IF OLD.status <> 'draft' AND (
                NEW.document IS DISTINCT FROM OLD.document OR NEW.sha256 <> OLD.sha256
                OR NEW.code <> OLD.code OR NEW.version <> OLD.version
                OR NEW.behaviour <> OLD.behaviour OR NEW.in_force_from <> OLD.in_force_from
                OR NEW.status = 'draft' OR (OLD.status = 'retired' AND NEW.status <> 'retired')
            ) THEN
                RAISE EXCEPTION 'published methodology versions are immutable'
                    USING ERRCODE = 'restrict_violation';
            END IF;
            RETURN NEW;
        END $$
    """)
    op.execute(
        "CREATE TRIGGER methodology_versions_immutable BEFORE UPDATE OR DELETE "
        "ON methodology_versions FOR EACH ROW EXECUTE FUNCTION ci_methodology_immutable()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER methodology_versions_immutable ON methodology_versions")
    op.execute("DROP FUNCTION ci_methodology_immutable()")
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION ci_append_only()")
    op.drop_index('ix_methodology_versions_behaviour', table_name='methodology_versions', postgresql_where="status <> 'draft'")
    op.drop_table('methodology_versions')
    op.drop_index('ix_audit_log_subject', table_name='audit_log')
    op.drop_table('audit_log')
