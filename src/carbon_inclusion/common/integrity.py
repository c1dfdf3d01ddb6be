"""Database integrity errors as domain errors, by constraint name, in one table.

The database holds the invariants (unique keys, checks, exclusion constraints); when one
refuses a write, the constraint's *name* says what happened. ``CONSTRAINT_ERRORS`` maps
each name a client can run into to the domain error it means; code that needs to act on a
particular constraint (e.g. an idempotency key's unique key: answer the first request
again) asks ``constraint_of``. Nothing matches substrings of the driver's message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError

from carbon_inclusion.errors import Conflict, DomainError, FieldError

ErrorFactory = Callable[[], DomainError]


def _conflict(detail: str, code: str, field: str | None = None,
              message: str = "already exists") -> ErrorFactory:
    def make() -> DomainError:
        errors = [FieldError(field, message)] if field else None
        return Conflict(detail, code=code, errors=errors)
    return make


# Constraint name → the error a client gets. Names are the ones the migrations give.
CONSTRAINT_ERRORS: dict[str, ErrorFactory] = {
    "uq_users_phone": _conflict("An account with this phone number already exists.",
                                "phone_taken", "phone", "already registered"),
    "uq_organisations_name": _conflict("An organisation with this name already exists.",
                                       "organisation_exists", "name"),
    "pk_partners": _conflict("A partner with this id already exists.", "partner_exists", "id"),
    "ex_methodology_versions_period": _conflict(
        "Its period in force overlaps another published version.", "overlapping_period"),
    "uq_bindings_active_ref": _conflict("This card or account is bound to another citizen.",
                                        "reference_bound_elsewhere", "external_ref",
                                        "already bound to another account"),
    # Held under the citizen's lock, so only a writer that bypassed it meets this.
    "uq_behaviours_period": _conflict(
        "The citizen already has a behaviour of this type in this period.", "period_taken"),
}


def constraint_of(exc: BaseException) -> str | None:
    """The name of the constraint that refused the write, when the driver says one."""
    cause: BaseException | None = exc.orig if isinstance(exc, IntegrityError) else exc
    while cause is not None:
        name = getattr(cause, "constraint_name", None)
        if isinstance(name, str) and name:
            return name
        cause = cause.__cause__
    return None


def domain_error(exc: BaseException) -> DomainError | None:
    """The domain error ``exc`` means, or None when its constraint is not in the table."""
    name = constraint_of(exc)
    factory = CONSTRAINT_ERRORS.get(name) if name else None
    return factory() if factory else None


@contextmanager
def integrity_errors() -> Iterator[None]:
    """Re-raise an ``IntegrityError`` of a listed constraint as its domain error."""
    try:
        yield
    except IntegrityError as exc:
        error = domain_error(exc)
        if error is None:
            raise
        raise error from None
