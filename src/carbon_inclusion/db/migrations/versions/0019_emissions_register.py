"""the register of verified emissions

An organisation's verified emissions per year, entered by a verifier; a correction is a new
revision that supersedes the current one (with its reason), never an edit: the table is
append-only (0002's ``ci_append_only`` trigger). Compliance offsets are capped by a year's
latest revision.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('verified_emissions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organisation_id', sa.Uuid(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('verified_emissions_t', sa.Numeric(precision=20, scale=3), nullable=False),
    sa.Column('report_reference', sa.Text(), nullable=True),
    sa.Column('verified_on', sa.Date(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('supersedes', sa.Uuid(), nullable=True),
    sa.Column('verification_body_id', sa.Uuid(), nullable=False),
    sa.Column('entered_by', sa.Uuid(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('request_sha256', sa.LargeBinary(), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('year BETWEEN 2000 AND 2100', name=op.f('ck_verified_emissions_year')),
    sa.CheckConstraint('verified_emissions_t > 0', name=op.f('ck_verified_emissions_emissions_positive')),
    sa.CheckConstraint('revision >= 1', name=op.f('ck_verified_emissions_revision_positive')),
    sa.CheckConstraint('(revision = 1) = (supersedes IS NULL)', name=op.f('ck_verified_emissions_supersedes_previous')),
    sa.CheckConstraint('revision = 1 OR reason IS NOT NULL', name=op.f('ck_verified_emissions_correction_reason')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_verified_emissions_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['verification_body_id'], ['organisations.id'], name=op.f('fk_verified_emissions_verification_body_id_organisations')),
    sa.ForeignKeyConstraint(['entered_by'], ['users.id'], name=op.f('fk_verified_emissions_entered_by_users')),
    sa.ForeignKeyConstraint(['supersedes'], ['verified_emissions.id'], name=op.f('fk_verified_emissions_supersedes_verified_emissions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verified_emissions')),
    sa.UniqueConstraint('organisation_id', 'year', 'revision', name=op.f('uq_verified_emissions_organisation_id_year_revision')),
    sa.UniqueConstraint('entered_by', 'idempotency_key', name=op.f('uq_verified_emissions_entered_by_idempotency_key')),
    sa.UniqueConstraint('supersedes', name=op.f('uq_verified_emissions_supersedes'))
    )
    op.execute("CREATE TRIGGER verified_emissions_append_only BEFORE UPDATE OR DELETE "
               "ON verified_emissions FOR EACH ROW EXECUTE FUNCTION ci_append_only()")


def downgrade() -> None:
    op.execute("DROP TRIGGER verified_emissions_append_only ON verified_emissions")
    op.drop_table('verified_emissions')
