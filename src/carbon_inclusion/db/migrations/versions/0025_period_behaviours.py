"""period behaviours: at most one open behaviour of a type per citizen and period

A methodology may declare ``once_per`` (a programme day or month): a citizen then has at
most one open (credited or waiting for review) behaviour of that type in each such period.
``behaviours.period_start`` (nullable) is the first programme day of the behaviour's period,
set when its methodology declares one. The uniqueness must hold across the monthly
partitions of ``behaviours`` (a programme month starts 16:00 UTC the day before, in another
partition), so, as 0023's key tables, it lives in a narrow non-partitioned key table:

* ``behaviour_period_keys (citizen_id, type, period_start)``, primary key
  ``uq_behaviours_period``, naming its behaviour by its whole key; written by an
  after-insert statement trigger for every open behaviour with a period, removed by a row
  trigger when the behaviour leaves the open statuses (superseded, rejected) and written
  again if one returns to them. A second open behaviour of one period fails its statement.
* A behaviour's type and period are fixed once it has one (its key row points at them).

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

UPGRADE = [
    "ALTER TABLE behaviours ADD COLUMN period_start date",
    """CREATE TABLE behaviour_period_keys (
        citizen_id uuid NOT NULL,
        type varchar(64) NOT NULL,
        period_start date NOT NULL,
        behaviour_id uuid NOT NULL,
        occurred_at timestamptz NOT NULL,
        CONSTRAINT uq_behaviours_period PRIMARY KEY (citizen_id, type, period_start))""",
    """CREATE FUNCTION ci_behaviour_period_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO behaviour_period_keys (citizen_id, type, period_start, behaviour_id,
                                       occurred_at)
    SELECT citizen_id, type, period_start, id, occurred_at FROM added
     WHERE period_start IS NOT NULL AND status IN ('credited', 'pending_review');
    RETURN NULL;
END $$""",
    """CREATE TRIGGER behaviours_period_keys AFTER INSERT ON behaviours
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT
    EXECUTE FUNCTION ci_behaviour_period_keys()""",
    """CREATE FUNCTION ci_behaviour_period_moved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_open boolean := OLD.status IN ('credited', 'pending_review');
    is_open boolean := NEW.status IN ('credited', 'pending_review');
BEGIN
    IF NEW.type IS DISTINCT FROM OLD.type
       OR NEW.period_start IS DISTINCT FROM OLD.period_start THEN
        RAISE EXCEPTION 'a period behaviour''s type and period are fixed'
            USING ERRCODE = 'check_violation';
    END IF;
    IF was_open AND NOT is_open THEN
        DELETE FROM behaviour_period_keys
         WHERE citizen_id = OLD.citizen_id AND type = OLD.type
           AND period_start = OLD.period_start AND behaviour_id = OLD.id;
    ELSIF is_open AND NOT was_open THEN
        INSERT INTO behaviour_period_keys (citizen_id, type, period_start, behaviour_id,
                                           occurred_at)
        VALUES (NEW.citizen_id, NEW.type, NEW.period_start, NEW.id, NEW.occurred_at);
    END IF;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER behaviours_period_moved AFTER UPDATE OF status, type, period_start
    ON behaviours FOR EACH ROW WHEN (OLD.period_start IS NOT NULL)
    EXECUTE FUNCTION ci_behaviour_period_moved()""",
]

DOWNGRADE = [
    "DROP TRIGGER behaviours_period_moved ON behaviours",
    "DROP FUNCTION ci_behaviour_period_moved()",
    "DROP TRIGGER behaviours_period_keys ON behaviours",
    "DROP FUNCTION ci_behaviour_period_keys()",
    "DROP TABLE behaviour_period_keys",
    "ALTER TABLE behaviours DROP COLUMN period_start",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
