"""verification bodies and their verifiers

``organisations.kind`` is ``enterprise`` (buys credits) or ``verification_body`` (an
independent 核证机构). Users of a verification body have the role ``verifier``: they verify
or return credit batches and enter organisations' verified emissions, and nothing else.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('organisations', sa.Column('kind', sa.String(length=24),
                                             server_default='enterprise', nullable=False))
    op.create_check_constraint(op.f('ck_organisations_kind'), 'organisations',
                               "kind IN ('enterprise', 'verification_body')")
    op.drop_constraint(op.f('ck_users_role'), 'users', type_='check')
    op.create_check_constraint(op.f('ck_users_role'), 'users',
                               "role IN ('citizen', 'enterprise', 'admin', 'verifier')")
    op.drop_constraint(op.f('ck_users_enterprise_organisation'), 'users', type_='check')
    op.create_check_constraint(op.f('ck_users_enterprise_organisation'), 'users',
                               "(role IN ('enterprise', 'verifier')) = "
                               "(organisation_id IS NOT NULL)")


def downgrade() -> None:
    op.execute("DELETE FROM users WHERE role = 'verifier'")
    op.drop_constraint(op.f('ck_users_enterprise_organisation'), 'users', type_='check')
    op.create_check_constraint(op.f('ck_users_enterprise_organisation'), 'users',
                               "(role = 'enterprise') = (organisation_id IS NOT NULL)")
    op.drop_constraint(op.f('ck_users_role'), 'users', type_='check')
    op.create_check_constraint(op.f('ck_users_role'), 'users',
                               "role IN ('citizen', 'enterprise', 'admin')")
    op.drop_constraint(op.f('ck_organisations_kind'), 'organisations', type_='check')
    op.drop_column('organisations', 'kind')
