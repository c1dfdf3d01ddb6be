"""time partitions: behaviours, partner records, journal entries and postings by month

The four tables that grow without bound become PostgreSQL partitioned tables, RANGE by
month (UTC) on the time their queries filter by:

* ``behaviours``      by ``occurred_at`` (same-trip windows, a citizen's history, retention);
* ``partner_records`` by ``received_at`` (an inbox: rows always land in the current month,
  whatever ``occurred_at`` a partner sends);
* ``journal_entries`` and ``postings`` by ``created_at`` (an entry and its postings are
  written in one statement, so both carry the same ``now()`` and the same month).

Each gets one partition per month from its oldest row's month to three months ahead, and a
DEFAULT partition as the safety net (a write never fails for lack of a partition: a clock
far off, a behaviour that occurred long ago). ``carbon-inclusion db partitions`` creates
months ahead and detaches old ones; the app creates the current and next month at start.

Every unique key of a partitioned table includes its partition key and the citizen (the
partner for partner records), as Citus also needs. The unique keys that must hold across
months cannot, so each moves to a narrow non-partitioned key table written by a trigger in
the same statement, whose violation is the error the code already knew:

* ``behaviour_keys (citizen_id, idempotency_key)``: a claim's Idempotency-Key; its primary
  key keeps the old name ``uq_behaviours_citizen_id_idempotency_key`` (claims.KEY_USED);
* ``partner_record_keys (partner_id, external_id)``: the partner's de-duplication key;
  ingestion claims the key first and inserts only the records whose key it got (what
  ``ON CONFLICT DO NOTHING`` did), a trigger gives any other insert its key (or fails it as
  a duplicate), and the key outlives a detached month, so a month-old resend is still a
  duplicate;
* ``journal_entry_keys (citizen_id, idempotency_key)`` (name
  ``uq_journal_entries_citizen_idempotency``), which also holds ``(citizen_id,
  reverses_id)`` unique (one reversal per entry, ``uq_journal_entries_reverses``) and the
  reversal's foreign key to the reversed entry's key row (an entry and its reversal are the
  same citizen's).

Foreign keys to a partitioned table reference its whole key: postings carry their entry's
citizen (``postings.citizen_id``) and point at ``(id, created_at, citizen_id)``; credit
allocations (and released ones) carry the behaviour's ``citizen_id`` and
``behaviour_occurred_at``. The ledger's trigger functions are restated in full, now
matching an entry by its whole key (so a lookup prunes to one month).

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

import datetime as dt

from alembic import op
from sqlalchemy import text

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

AHEAD = 3  # months created beyond the current one

# table → (partition key, primary key after, primary key before)
TABLES = {
    "behaviours": ("occurred_at", "id, occurred_at, citizen_id", "id"),
    "partner_records": ("received_at", "id, received_at, partner_id", "id"),
    "journal_entries": ("created_at", "id, created_at, citizen_id", "id"),
    "postings": ("created_at", "id, created_at, citizen_id", "id"),
}

# Indexes other than the primary key, identical before and after (the partitioned parent's
# index cascades to every partition).
INDEXES = {
    "behaviours": [
        "CREATE INDEX ix_behaviours_citizen_created ON behaviours (citizen_id, created_at, id)",
        "CREATE INDEX ix_behaviours_citizen_occurred ON behaviours (citizen_id, occurred_at, id)",
        "CREATE INDEX ix_behaviours_citizen_type_occurred ON behaviours "
        "(citizen_id, type, occurred_at)",
        "CREATE INDEX ix_behaviours_pending ON behaviours (created_at) "
        "WHERE status = 'pending_review'",
        "CREATE INDEX ix_behaviours_type_occurred ON behaviours (type, occurred_at)",
        # 0021's, for the programme's statistics.
        "CREATE INDEX ix_behaviours_credited_day ON behaviours (programme_day) "
        "INCLUDE (type, district_code, reduction_g, points, citizen_id) "
        "WHERE status = 'credited'",
    ],
    "partner_records": [
        "CREATE INDEX ix_partner_records_unbound ON partner_records (partner_id, ref_hash) "
        "WHERE status = 'unbound'",
    ],
    "journal_entries": [
        "CREATE INDEX ix_journal_entries_citizen_created ON journal_entries "
        "(citizen_id, created_at, id)",
        "CREATE INDEX ix_journal_entries_created_at ON journal_entries (created_at) "
        "INCLUDE (kind, points, citizen_id)",  # 0021's
    ],
    "postings": [
        "CREATE INDEX ix_postings_account_citizen ON postings (account_citizen_id, id) "
        "WHERE account_citizen_id IS NOT NULL",
    ],
}


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    out, m = [], first.replace(day=1)
    while m <= last:
        out.append(m)
        m = (m + dt.timedelta(days=32)).replace(day=1)
    return out


def _partition_ddl(table: str, parent: str, month: dt.date) -> str:
    following = (month + dt.timedelta(days=32)).replace(day=1)
    return (f"CREATE TABLE {table}_p{month:%Y%m} PARTITION OF {parent} "
            f"FOR VALUES FROM ('{month:%Y-%m-%d} 00:00:00+00') "
            f"TO ('{following:%Y-%m-%d} 00:00:00+00')")


def _to_partitioned(table: str, extra_columns: str = "", select: str | None = None) -> None:
    """``table`` becomes a partitioned table of the same columns (plus ``extra_columns``),
    rows moved, with a partition per month holding rows, ``AHEAD`` months more and DEFAULT.
    Constraints other than CHECK and NOT NULL, indexes and triggers are the caller's."""
    key, pk, _ = TABLES[table]
    conn = op.get_bind()
    oldest, today = conn.execute(text(
        f"SELECT min({key}) AT TIME ZONE 'UTC', (now() AT TIME ZONE 'UTC')::date "  # noqa: S608
        f"FROM {table}")).one()
    first = min(oldest.date(), today) if oldest is not None else today
    last = (today.replace(day=1) + dt.timedelta(days=31 * AHEAD)).replace(day=1)
    op.execute(f"CREATE TABLE {table}_partitioned (LIKE {table} INCLUDING DEFAULTS "
               f"INCLUDING CONSTRAINTS{extra_columns}) PARTITION BY RANGE ({key})")
    for month in _months(first, last):
        op.execute(_partition_ddl(table, f"{table}_partitioned", month))
    op.execute(f"CREATE TABLE {table}_default PARTITION OF {table}_partitioned DEFAULT")
    rows = select or f"SELECT * FROM {table}"  # noqa: S608 - constant names
    op.execute(f"INSERT INTO {table}_partitioned {rows}")
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {table}_partitioned RENAME TO {table}")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({pk})")
    for statement in INDEXES[table]:
        op.execute(statement)


def upgrade() -> None:
    conn = op.get_bind()
    crossed = conn.execute(text(
        "SELECT r.id FROM journal_entries r JOIN journal_entries e ON e.id = r.reverses_id "
        "WHERE e.citizen_id <> r.citizen_id LIMIT 1")).scalar()
    if crossed is not None:
        raise RuntimeError(f"journal entry {crossed} reverses another citizen's entry")

    # The cross-month unique keys move to key tables under the same names, filled from the
    # rows as they are.
    op.execute("ALTER TABLE behaviours DROP CONSTRAINT uq_behaviours_citizen_id_idempotency_key")
    op.execute("ALTER TABLE partner_records "
               "DROP CONSTRAINT uq_partner_records_partner_id_external_id")
    op.execute("DROP INDEX uq_journal_entries_citizen_idempotency")
    op.execute("DROP INDEX uq_journal_entries_reverses")
    for statement in KEY_TABLES:
        op.execute(statement)
    op.execute("INSERT INTO behaviour_keys SELECT citizen_id, idempotency_key, id, occurred_at "
               "FROM behaviours WHERE idempotency_key IS NOT NULL")
    op.execute("INSERT INTO partner_record_keys SELECT partner_id, external_id, id, "
               "received_at FROM partner_records")
    op.execute("INSERT INTO journal_entry_keys SELECT citizen_id, idempotency_key, id, "
               "created_at, reverses_id FROM journal_entries ORDER BY created_at")

    # Foreign keys into the tables being rebuilt go first, and come back on the whole key.
    op.execute("ALTER TABLE credit_allocations "
               "DROP CONSTRAINT fk_credit_allocations_behaviour_id_behaviours")
    op.execute("ALTER TABLE credit_allocations_released "
               "DROP CONSTRAINT fk_credit_allocations_released_behaviour_id_behaviours")
    op.execute("ALTER TABLE postings DROP CONSTRAINT fk_postings_entry_id_journal_entries")
    op.execute("ALTER TABLE journal_entries "
               "DROP CONSTRAINT fk_journal_entries_reverses_id_journal_entries")
    for allocations in ("credit_allocations", "credit_allocations_released"):
        op.execute(f"ALTER TABLE {allocations} ADD COLUMN citizen_id uuid, "
                   "ADD COLUMN behaviour_occurred_at timestamptz")
        op.execute(f"UPDATE {allocations} a SET citizen_id = b.citizen_id, "  # noqa: S608
                   "behaviour_occurred_at = b.occurred_at FROM behaviours b "
                   "WHERE b.id = a.behaviour_id")
        op.execute(f"ALTER TABLE {allocations} ALTER COLUMN citizen_id SET NOT NULL, "
                   "ALTER COLUMN behaviour_occurred_at SET NOT NULL")

    op.execute("ALTER SEQUENCE postings_id_seq OWNED BY NONE")
    _to_partitioned("behaviours")
    _to_partitioned("partner_records")
    _to_partitioned("journal_entries")
    _to_partitioned(
        "postings", ", citizen_id uuid NOT NULL",
        "SELECT p.*, e.citizen_id FROM postings p JOIN journal_entries e ON e.id = p.entry_id")
    op.execute("ALTER SEQUENCE postings_id_seq OWNED BY postings.id")

    op.execute("ALTER TABLE postings ADD CONSTRAINT fk_postings_entry_id_journal_entries "
               "FOREIGN KEY (entry_id, created_at, citizen_id) "
               "REFERENCES journal_entries (id, created_at, citizen_id)")
    op.execute("CREATE INDEX ix_postings_entry ON postings (entry_id, created_at, citizen_id)")
    # A citizen's lines are its entry's citizen's (the account column is then the citizen id,
    # so an index on it is a citizen index, and on Citus on the citizen's shard).
    op.execute("ALTER TABLE postings ADD CONSTRAINT ck_postings_account_is_entry_citizen "
               "CHECK (account_citizen_id IS NULL OR account_citizen_id = citizen_id)")
    op.execute("ALTER TABLE behaviours ADD CONSTRAINT fk_behaviours_citizen_id_users "
               "FOREIGN KEY (citizen_id) REFERENCES users (id) ON DELETE RESTRICT")
    op.execute("ALTER TABLE behaviours ADD CONSTRAINT "
               "fk_behaviours_methodology_id_methodology_versions FOREIGN KEY (methodology_id) "
               "REFERENCES methodology_versions (id) ON DELETE RESTRICT")
    op.execute("ALTER TABLE partner_records ADD CONSTRAINT fk_partner_records_partner_id_partners "
               "FOREIGN KEY (partner_id) REFERENCES partners (id) ON DELETE RESTRICT")
    op.execute("ALTER TABLE journal_entries ADD CONSTRAINT fk_journal_entries_citizen_id_users "
               "FOREIGN KEY (citizen_id) REFERENCES users (id) ON DELETE RESTRICT")
    op.execute("ALTER TABLE credit_allocations ADD CONSTRAINT "
               "fk_credit_allocations_behaviour_id_behaviours "
               "FOREIGN KEY (behaviour_id, behaviour_occurred_at, citizen_id) "
               "REFERENCES behaviours (id, occurred_at, citizen_id)")
    op.execute("ALTER TABLE credit_allocations_released ADD CONSTRAINT "
               "fk_credit_allocations_released_behaviour_id_behaviours "
               "FOREIGN KEY (behaviour_id, behaviour_occurred_at, citizen_id) "
               "REFERENCES behaviours (id, occurred_at, citizen_id)")
    for statement in TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_TRIGGERS:
        op.execute(statement)
    for allocations in ("credit_allocations", "credit_allocations_released"):
        op.execute(f"ALTER TABLE {allocations} "
                   f"DROP CONSTRAINT fk_{allocations}_behaviour_id_behaviours")
    op.execute("ALTER TABLE postings DROP CONSTRAINT fk_postings_entry_id_journal_entries")
    op.execute("ALTER SEQUENCE postings_id_seq OWNED BY NONE")
    for table, (_, _, pk) in TABLES.items():
        op.execute(f"CREATE TABLE {table}_plain (LIKE {table} INCLUDING DEFAULTS "
                   "INCLUDING CONSTRAINTS)")
        op.execute(f"INSERT INTO {table}_plain SELECT * FROM {table}")  # noqa: S608
        op.execute(f"DROP TABLE {table} CASCADE")
        op.execute(f"ALTER TABLE {table}_plain RENAME TO {table}")
        if table == "postings":
            op.execute("ALTER TABLE postings DROP COLUMN citizen_id")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({pk})")
        for statement in INDEXES[table]:
            op.execute(statement)
    op.execute("ALTER SEQUENCE postings_id_seq OWNED BY postings.id")
    op.execute("CREATE INDEX ix_postings_entry ON postings (entry_id)")
    op.execute("ALTER TABLE behaviours ADD CONSTRAINT uq_behaviours_citizen_id_idempotency_key "
               "UNIQUE (citizen_id, idempotency_key)")  # after behaviour_keys is gone, below
    op.execute("ALTER TABLE partner_records ADD CONSTRAINT "
               "uq_partner_records_partner_id_external_id UNIQUE (partner_id, external_id)")
    op.execute("CREATE UNIQUE INDEX uq_journal_entries_citizen_idempotency ON journal_entries "
               "(citizen_id, idempotency_key)")
    op.execute("CREATE UNIQUE INDEX uq_journal_entries_reverses ON journal_entries "
               "(reverses_id) WHERE reverses_id IS NOT NULL")
    for fk in (
        "behaviours ADD CONSTRAINT fk_behaviours_citizen_id_users FOREIGN KEY (citizen_id) "
        "REFERENCES users (id) ON DELETE RESTRICT",
        "behaviours ADD CONSTRAINT fk_behaviours_methodology_id_methodology_versions "
        "FOREIGN KEY (methodology_id) REFERENCES methodology_versions (id) ON DELETE RESTRICT",
        "partner_records ADD CONSTRAINT fk_partner_records_partner_id_partners "
        "FOREIGN KEY (partner_id) REFERENCES partners (id) ON DELETE RESTRICT",
        "journal_entries ADD CONSTRAINT fk_journal_entries_citizen_id_users "
        "FOREIGN KEY (citizen_id) REFERENCES users (id) ON DELETE RESTRICT",
        "journal_entries ADD CONSTRAINT fk_journal_entries_reverses_id_journal_entries "
        "FOREIGN KEY (reverses_id) REFERENCES journal_entries (id)",
        "postings ADD CONSTRAINT fk_postings_entry_id_journal_entries "
        "FOREIGN KEY (entry_id) REFERENCES journal_entries (id)",
        "credit_allocations ADD CONSTRAINT fk_credit_allocations_behaviour_id_behaviours "
        "FOREIGN KEY (behaviour_id) REFERENCES behaviours (id)",
        "credit_allocations_released ADD CONSTRAINT "
        "fk_credit_allocations_released_behaviour_id_behaviours "
        "FOREIGN KEY (behaviour_id) REFERENCES behaviours (id)",
    ):
        op.execute(f"ALTER TABLE {fk}")
    for allocations in ("credit_allocations", "credit_allocations_released"):
        op.execute(f"ALTER TABLE {allocations} DROP COLUMN citizen_id, "
                   "DROP COLUMN behaviour_occurred_at")
    for statement in TRIGGERS_0011:
        op.execute(statement)


# The key tables. Their unique keys carry the names the partitioned tables' keys had.
KEY_TABLES = [
    """CREATE TABLE behaviour_keys (
        citizen_id uuid NOT NULL,
        idempotency_key varchar(128) NOT NULL,
        behaviour_id uuid NOT NULL,
        occurred_at timestamptz NOT NULL,
        CONSTRAINT uq_behaviours_citizen_id_idempotency_key
            PRIMARY KEY (citizen_id, idempotency_key))""",
    """CREATE TABLE partner_record_keys (
        partner_id varchar(32) NOT NULL,
        external_id varchar(128) NOT NULL,
        record_id uuid NOT NULL,
        received_at timestamptz NOT NULL,
        CONSTRAINT uq_partner_records_partner_id_external_id
            PRIMARY KEY (partner_id, external_id))""",
    """CREATE TABLE journal_entry_keys (
        citizen_id uuid NOT NULL,
        idempotency_key varchar(160) NOT NULL,
        entry_id uuid NOT NULL,
        created_at timestamptz NOT NULL,
        reverses_id uuid,
        CONSTRAINT uq_journal_entries_citizen_idempotency
            PRIMARY KEY (citizen_id, idempotency_key),
        CONSTRAINT uq_journal_entry_keys_citizen_id_entry_id UNIQUE (citizen_id, entry_id),
        CONSTRAINT uq_journal_entries_reverses UNIQUE (citizen_id, reverses_id),
        CONSTRAINT fk_journal_entry_keys_reverses FOREIGN KEY (citizen_id, reverses_id)
            REFERENCES journal_entry_keys (citizen_id, entry_id))""",
]

# Key rows are written by statement-level triggers (one INSERT per statement, from the
# transition table), so a batch of a thousand entries costs one more statement, not a
# thousand; a duplicate fails the statement as the unique index on the table did.
TRIGGERS = [
    """CREATE FUNCTION ci_behaviour_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO behaviour_keys (citizen_id, idempotency_key, behaviour_id, occurred_at)
    SELECT citizen_id, idempotency_key, id, occurred_at FROM added
     WHERE idempotency_key IS NOT NULL;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER behaviours_keys AFTER INSERT ON behaviours
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ci_behaviour_keys()""",
    # A behaviour's owner, key and time never change (its key row points at them).
    """CREATE FUNCTION ci_behaviour_key_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.citizen_id IS DISTINCT FROM OLD.citizen_id
       OR NEW.idempotency_key IS DISTINCT FROM OLD.idempotency_key
       OR NEW.occurred_at IS DISTINCT FROM OLD.occurred_at THEN
        RAISE EXCEPTION 'a behaviour''s citizen, Idempotency-Key and time are fixed'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$""",
    """CREATE TRIGGER behaviours_key_fixed BEFORE UPDATE OF citizen_id, idempotency_key,
    occurred_at ON behaviours FOR EACH ROW EXECUTE FUNCTION ci_behaviour_key_fixed()""",
    # Ingestion claims a record's key first (``INSERT … ON CONFLICT DO NOTHING`` into
    # partner_record_keys, then only the records whose key it got), so a record already
    # received is skipped as before. Any other insert gets its key here, and a duplicate
    # fails the statement as the unique index did: every record has its key, whoever wrote it.
    """CREATE FUNCTION ci_partner_record_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO partner_record_keys (partner_id, external_id, record_id, received_at)
    SELECT a.partner_id, a.external_id, a.id, a.received_at FROM added a
     WHERE NOT EXISTS (SELECT 1 FROM partner_record_keys k
                        WHERE k.partner_id = a.partner_id AND k.external_id = a.external_id
                          AND k.record_id = a.id);
    RETURN NULL;
END $$""",
    """CREATE TRIGGER partner_records_key AFTER INSERT ON partner_records
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ci_partner_record_key()""",
    # Forgetting a record (privacy) forgets its key, as deleting the row did.
    """CREATE FUNCTION ci_partner_record_forgotten() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM partner_record_keys k USING gone g
     WHERE k.partner_id = g.partner_id AND k.external_id = g.external_id
       AND k.record_id = g.id;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER partner_records_forgotten AFTER DELETE ON partner_records
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION ci_partner_record_forgotten()""",
    """CREATE FUNCTION ci_journal_entry_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO journal_entry_keys (citizen_id, idempotency_key, entry_id, created_at,
                                    reverses_id)
    SELECT citizen_id, idempotency_key, id, created_at, reverses_id FROM added;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER journal_entries_keys AFTER INSERT ON journal_entries
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ci_journal_entry_keys()""",
    # 0004's, on the entry's whole key.
    """CREATE OR REPLACE FUNCTION ci_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total numeric;
    mine numeric;
    lines int;
BEGIN
    SELECT coalesce(sum(amount), 0), coalesce(sum(amount) FILTER (WHERE account = 'citizen'), 0),
           count(*)
      INTO total, mine, lines FROM postings
     WHERE entry_id = NEW.id AND created_at = NEW.created_at AND citizen_id = NEW.citizen_id;
    IF lines < 2 OR total <> 0 OR mine <> NEW.points THEN
        RAISE EXCEPTION 'journal entry % does not balance (% lines, sum %, citizen %, points %)',
            NEW.id, lines, total, mine, NEW.points USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$""",
    """CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ci_entry_balanced()""",
    """CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION ci_append_only()""",
    """CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION ci_append_only()""",
    # 0011's (balance, wallet lock order, lots, earned), matching entries by the whole key and
    # reading only the months the statement's postings are in.
    """CREATE OR REPLACE FUNCTION ci_postings_added() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad uuid;
BEGIN
    SELECT p.entry_id INTO bad
      FROM postings p
     WHERE (p.entry_id, p.created_at, p.citizen_id) IN
           (SELECT DISTINCT entry_id, created_at, citizen_id FROM added)
       AND p.created_at >= (SELECT min(created_at) FROM added)
       AND p.created_at <= (SELECT max(created_at) FROM added)
     GROUP BY p.entry_id
    HAVING sum(p.amount) <> 0
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance', bad
            USING ERRCODE = 'check_violation';
    END IF;

    PERFORM 1 FROM wallets w
     WHERE w.citizen_id IN (SELECT account_citizen_id FROM added WHERE account = 'citizen')
     ORDER BY w.citizen_id FOR UPDATE;
    -- UPDATE first: an INSERT's proposed row must pass the CHECK even when it would conflict.
    WITH moves AS (
        SELECT a.account_citizen_id AS citizen_id, sum(a.amount) AS amount,
               coalesce(sum(a.amount) FILTER (WHERE e.kind IN ('behaviour_credit', 'reversal', 'bonus')),
                        0) AS earned
          FROM added a JOIN journal_entries e
            ON e.id = a.entry_id AND e.created_at = a.created_at AND e.citizen_id = a.citizen_id
         WHERE a.account = 'citizen' GROUP BY a.account_citizen_id)
    UPDATE wallets w SET balance = w.balance + m.amount, earned = w.earned + m.earned,
                         updated_at = now()
      FROM moves m WHERE w.citizen_id = m.citizen_id;
    WITH moves AS (
        SELECT a.account_citizen_id AS citizen_id, sum(a.amount) AS amount,
               coalesce(sum(a.amount) FILTER (WHERE e.kind IN ('behaviour_credit', 'reversal', 'bonus')),
                        0) AS earned
          FROM added a JOIN journal_entries e
            ON e.id = a.entry_id AND e.created_at = a.created_at AND e.citizen_id = a.citizen_id
         WHERE a.account = 'citizen' GROUP BY a.account_citizen_id)
    INSERT INTO wallets AS w (citizen_id, balance, earned)
    SELECT m.citizen_id, m.amount, m.earned FROM moves m
     WHERE NOT EXISTS (SELECT 1 FROM wallets x WHERE x.citizen_id = m.citizen_id)
     ORDER BY m.citizen_id
    ON CONFLICT (citizen_id) DO UPDATE
        SET balance = w.balance + EXCLUDED.balance, earned = w.earned + EXCLUDED.earned,
            updated_at = now();

    PERFORM 1 FROM point_lots l
     WHERE (l.citizen_id, l.lot) IN (SELECT account_citizen_id, lot FROM added
                                      WHERE account = 'citizen')
     ORDER BY l.citizen_id, l.lot FOR UPDATE;
    WITH moves AS (
        SELECT account_citizen_id AS citizen_id, lot, sum(amount) AS amount
          FROM added WHERE account = 'citizen' GROUP BY 1, 2)
    UPDATE point_lots l SET balance = l.balance + m.amount
      FROM moves m WHERE l.citizen_id = m.citizen_id AND l.lot = m.lot;
    WITH moves AS (
        SELECT account_citizen_id AS citizen_id, lot, sum(amount) AS amount
          FROM added WHERE account = 'citizen' GROUP BY 1, 2)
    INSERT INTO point_lots AS l (citizen_id, lot, balance)
    SELECT m.citizen_id, m.lot, m.amount FROM moves m
     WHERE NOT EXISTS (SELECT 1 FROM point_lots x
                        WHERE x.citizen_id = m.citizen_id AND x.lot = m.lot)
     ORDER BY m.citizen_id, m.lot
    ON CONFLICT (citizen_id, lot) DO UPDATE SET balance = l.balance + EXCLUDED.balance;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER postings_added AFTER INSERT ON postings
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ci_postings_added()""",
]

DROP_TRIGGERS = [
    "DROP TRIGGER behaviours_keys ON behaviours",
    "DROP FUNCTION ci_behaviour_keys()",
    "DROP TRIGGER behaviours_key_fixed ON behaviours",
    "DROP FUNCTION ci_behaviour_key_fixed()",
    "DROP TRIGGER partner_records_key ON partner_records",
    "DROP FUNCTION ci_partner_record_key()",
    "DROP TRIGGER partner_records_forgotten ON partner_records",
    "DROP FUNCTION ci_partner_record_forgotten()",
    "DROP TRIGGER journal_entries_keys ON journal_entries",
    "DROP FUNCTION ci_journal_entry_keys()",
    "DROP TABLE behaviour_keys",
    "DROP TABLE partner_record_keys",
    "DROP TABLE journal_entry_keys",
]

# The ledger's triggers and functions as 0004 and 0011 left them (the tables' own triggers
# went with the partitioned tables).
TRIGGERS_0011 = [
    """CREATE OR REPLACE FUNCTION ci_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total numeric;
    mine numeric;
    lines int;
BEGIN
    SELECT coalesce(sum(amount), 0), coalesce(sum(amount) FILTER (WHERE account = 'citizen'), 0),
           count(*)
      INTO total, mine, lines FROM postings WHERE entry_id = NEW.id;
    IF lines < 2 OR total <> 0 OR mine <> NEW.points THEN
        RAISE EXCEPTION 'journal entry % does not balance (% lines, sum %, citizen %, points %)',
            NEW.id, lines, total, mine, NEW.points USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$""",
    """CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ci_entry_balanced()""",
    """CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION ci_append_only()""",
    """CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION ci_append_only()""",
    """CREATE OR REPLACE FUNCTION ci_postings_added() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad uuid;
BEGIN
    SELECT p.entry_id INTO bad
      FROM postings p
     WHERE p.entry_id IN (SELECT DISTINCT entry_id FROM added)
     GROUP BY p.entry_id
    HAVING sum(p.amount) <> 0
     LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance', bad
            USING ERRCODE = 'check_violation';
    END IF;

    PERFORM 1 FROM wallets w
     WHERE w.citizen_id IN (SELECT account_citizen_id FROM added WHERE account = 'citizen')
     ORDER BY w.citizen_id FOR UPDATE;
    -- UPDATE first: an INSERT's proposed row must pass the CHECK even when it would conflict.
    WITH moves AS (
        SELECT a.account_citizen_id AS citizen_id, sum(a.amount) AS amount,
               coalesce(sum(a.amount) FILTER (WHERE e.kind IN ('behaviour_credit', 'reversal', 'bonus')),
                        0) AS earned
          FROM added a JOIN journal_entries e ON e.id = a.entry_id
         WHERE a.account = 'citizen' GROUP BY a.account_citizen_id)
    UPDATE wallets w SET balance = w.balance + m.amount, earned = w.earned + m.earned,
                         updated_at = now()
      FROM moves m WHERE w.citizen_id = m.citizen_id;
    WITH moves AS (
        SELECT a.account_citizen_id AS citizen_id, sum(a.amount) AS amount,
               coalesce(sum(a.amount) FILTER (WHERE e.kind IN ('behaviour_credit', 'reversal', 'bonus')),
                        0) AS earned
          FROM added a JOIN journal_entries e ON e.id = a.entry_id
         WHERE a.account = 'citizen' GROUP BY a.account_citizen_id)
    INSERT INTO wallets AS w (citizen_id, balance, earned)
    SELECT m.citizen_id, m.amount, m.earned FROM moves m
     WHERE NOT EXISTS (SELECT 1 FROM wallets x WHERE x.citizen_id = m.citizen_id)
     ORDER BY m.citizen_id
    ON CONFLICT (citizen_id) DO UPDATE
        SET balance = w.balance + EXCLUDED.balance, earned = w.earned + EXCLUDED.earned,
            updated_at = now();

    PERFORM 1 FROM point_lots l
     WHERE (l.citizen_id, l.lot) IN (SELECT account_citizen_id, lot FROM added
                                      WHERE account = 'citizen')
     ORDER BY l.citizen_id, l.lot FOR UPDATE;
    WITH moves AS (
        SELECT account_citizen_id AS citizen_id, lot, sum(amount) AS amount
          FROM added WHERE account = 'citizen' GROUP BY 1, 2)
    UPDATE point_lots l SET balance = l.balance + m.amount
      FROM moves m WHERE l.citizen_id = m.citizen_id AND l.lot = m.lot;
    WITH moves AS (
        SELECT account_citizen_id AS citizen_id, lot, sum(amount) AS amount
          FROM added WHERE account = 'citizen' GROUP BY 1, 2)
    INSERT INTO point_lots AS l (citizen_id, lot, balance)
    SELECT m.citizen_id, m.lot, m.amount FROM moves m
     WHERE NOT EXISTS (SELECT 1 FROM point_lots x
                        WHERE x.citizen_id = m.citizen_id AND x.lot = m.lot)
     ORDER BY m.citizen_id, m.lot
    ON CONFLICT (citizen_id, lot) DO UPDATE SET balance = l.balance + EXCLUDED.balance;
    RETURN NULL;
END $$""",
    """CREATE TRIGGER postings_added AFTER INSERT ON postings
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ci_postings_added()""",
]
