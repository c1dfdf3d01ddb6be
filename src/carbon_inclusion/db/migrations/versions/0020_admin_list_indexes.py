"""indexes for the administrators' lists

Each list pages newest first by its keyset, filtered by one column; without an index on
the filter and the key, a rare filter value (``role=admin`` among millions of citizens, one
actor's audit records) walks the whole primary key to fill a page.

* ``users (role, id)``: ``GET /v1/admin/users?role=``;
* ``audit_log (action, id)`` and ``(actor_id, id)``: ``GET /v1/admin/audit?action=&actor_id=``;
* ``certificates (status, issued_at, id)``: ``GET /v1/admin/certificates?status=`` and the
  public overview's newest valid certificates.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_users_role_id", "users", ["role", "id"]),
    ("ix_audit_log_action_id", "audit_log", ["action", "id"]),
    ("ix_audit_log_actor_id_id", "audit_log", ["actor_id", "id"]),
    ("ix_certificates_status_issued_at_id", "certificates", ["status", "issued_at", "id"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
