"""Where every table goes when the database is distributed with Citus (docs/scaling.md).

One place, read by ``tests/test_distribution.py`` against the migrated schema: a table that
is not classified here fails it, and so does a distributed table whose unique key or index
lacks its distribution column, or a foreign key that would cross shards, unless it is listed
below as an exception with its reason.

* ``DISTRIBUTED``: sharded by the column named, rows of one citizen (or one partner) on one
  node; tables of the same group are co-located, so a citizen's claim, entry, postings,
  wallet and counters are one node's transaction. ``citizen`` is the group of the citizen id
  (``users.id`` itself); ``partner`` the partner's inbox.
* ``REFERENCE``: small, read on every path, written rarely: copied to every node.
* ``LOCAL``: stays on the coordinator: the credit registry (serials are allocated under one
  advisory lock there, so one serial is never issued twice), administrative and short-lived
  tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Distributed:
    column: str
    group: str = "citizen"
    # Another column that always equals the distribution column where it is set (a CHECK
    # says so), so an index on it is on the citizen's shard too.
    alias: str | None = None
    # Indexes that serve queries across citizens on purpose (an administrator's queue, a
    # methodology-wide window): on Citus they fan out to every shard. name → why.
    fan_out: dict[str, str] = field(default_factory=dict)


DISTRIBUTED: dict[str, Distributed] = {
    "users": Distributed("id", fan_out={
        "ix_users_organisation_id": "an organisation's staff accounts (few, administrative)"}),
    "behaviours": Distributed("citizen_id", fan_out={
        "ix_behaviours_pending": "the review queue of administrators, across citizens",
        "ix_behaviours_type_occurred": "a methodology's scoring window and credit vintages"}),
    "behaviour_keys": Distributed("citizen_id"),
    "behaviour_period_keys": Distributed("citizen_id"),
    "daily_totals": Distributed("citizen_id"),
    "journal_entries": Distributed("citizen_id"),
    "journal_entry_keys": Distributed("citizen_id"),
    "postings": Distributed("citizen_id", alias="account_citizen_id"),
    "wallets": Distributed("citizen_id"),
    "point_lots": Distributed("citizen_id"),
    "badge_awards": Distributed("citizen_id"),
    "challenge_participants": Distributed("citizen_id"),
    "redemptions": Distributed("citizen_id"),
    "bindings": Distributed("citizen_id"),
    "photos": Distributed("citizen_id", fan_out={
        "ix_photos_id": "a reviewer (administrator) opens a photo by its id alone"}),
    "privacy_consents": Distributed("user_id"),
    "refresh_tokens": Distributed("user_id", fan_out={
        "ix_refresh_tokens_family_id": "revoking a sign-in's token family (see EXCEPTIONS)"}),
    # The partners' inbox: who a record belongs to is known only once it is bound.
    "partner_records": Distributed("partner_id", group="partner"),
    "partner_record_keys": Distributed("partner_id", group="partner"),
}

REFERENCE: dict[str, str] = {
    "districts": "the programme's districts",
    "partners": "tens of partners",
    "methodology_versions": "published methodologies, read by every claim",
    "badges": "the game's definitions",
    "badge_versions": "the game's definitions",
    "levels": "the game's definitions",
    "challenges": "the game's definitions (participants are distributed)",
    "rewards": "the catalogue",
    "organisations": "enterprises, verifiers, verification bodies: thousands at most",
}

LOCAL: dict[str, str] = {
    "credit_batches": "the registry: serial ranges, one advisory lock on the coordinator",
    "credit_blocks": "the registry: who holds which serials",
    "credit_orders": "the registry: orders of organisations",
    "credit_allocations": "the registry: which behaviours a batch pooled (see EXCEPTIONS)",
    "credit_allocations_released": "the registry: what returned batches held",
    "retirements": "the registry",
    "certificates": "the registry",
    "events": "organisations' events and their offsets",
    "event_actuals": "organisations' events and their offsets",
    "verified_emissions": "organisations' verified emissions (see EXCEPTIONS)",
    "reward_stock": "hot stock counters in shards of their own; never replicated",
    "vouchers": "code pools per reward before they are anyone's (see EXCEPTIONS)",
    "binding_codes": "short-lived one-time codes",
    "audit_log": "administrative actions",
    "sms_outbox": "the development SMS outbox",
    "alembic_version": "the schema's revision",
}

# (table, constraint or index) → why it is allowed today and what it becomes on Citus.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("users", "uq_users_phone"):
        "one account per phone across all citizens; on Citus a key table distributed by "
        "phone_index (as behaviour_keys is by citizen) takes the uniqueness",
    ("bindings", "uq_bindings_active_ref"):
        "one citizen per card across all citizens; on Citus a key table distributed by "
        "(partner_id, ref_hash) takes the uniqueness",
    ("bindings", "pk_bindings"):
        "looked up by id only on an administrator's removal; on Citus the key becomes "
        "(citizen_id, id)",
    ("refresh_tokens", "pk_refresh_tokens"):
        "a refresh presents the token id alone; on Citus the token names its user so the "
        "key becomes (user_id, id)",
    ("privacy_consents", "pk_privacy_consents"):
        "append-only history read by user; on Citus the key becomes (user_id, id)",
    ("redemptions", "pk_redemptions"):
        "read by id under the citizen's own id; on Citus the key becomes (citizen_id, id)",
    ("badge_awards", "pk_badge_awards"):
        "the natural key (citizen_id, code, level) is unique already; on Citus the "
        "surrogate id goes or becomes (citizen_id, id)",
    ("vouchers", "fk_vouchers_redemption_id_redemptions"):
        "coordinator-held vouchers point at a citizen's redemption; on Citus the "
        "foreign key goes (the redemption row names its voucher in the same transaction)",
    ("credit_allocations", "fk_credit_allocations_behaviour_id_behaviours"):
        "the registry (coordinator) points at the behaviours it pooled, by their whole "
        "key; on Citus the foreign key goes and `registry verify` (allocation_mismatches) "
        "checks every allocated behaviour is credited with the grams allocated",
    ("credit_allocations_released", "fk_credit_allocations_released_behaviour_id_behaviours"):
        "as credit_allocations",
    ("verified_emissions", "fk_verified_emissions_entered_by_users"):
        "names the verifier account that entered it (users are never deleted, only "
        "pseudonymised); on Citus the foreign key goes",
}


def kind_of(table: str) -> str | None:
    if table in DISTRIBUTED:
        return "distributed"
    if table in REFERENCE:
        return "reference"
    if table in LOCAL:
        return "local"
    return None
