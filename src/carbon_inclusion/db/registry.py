"""Imports every domain's models so ``metadata`` knows all tables (for Alembic)."""

from carbon_inclusion.accounts import models as accounts_models  # noqa: F401
from carbon_inclusion.audit import models as audit_models  # noqa: F401
from carbon_inclusion.behaviours import models as behaviour_models  # noqa: F401
from carbon_inclusion.db.base import metadata
from carbon_inclusion.emissions import models as emissions_models  # noqa: F401
from carbon_inclusion.events import models as event_models  # noqa: F401
from carbon_inclusion.gamification import models as gamification_models  # noqa: F401
from carbon_inclusion.ledger import models as ledger_models  # noqa: F401
from carbon_inclusion.methodologies import models as methodology_models  # noqa: F401
from carbon_inclusion.partners import models as partner_models  # noqa: F401
from carbon_inclusion.photos import models as photo_models  # noqa: F401
from carbon_inclusion.registry import models as registry_models  # noqa: F401
from carbon_inclusion.rewards import models as reward_models  # noqa: F401

__all__ = ["metadata"]
