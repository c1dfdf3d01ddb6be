from carbon_inclusion.db.base import Base, metadata
from carbon_inclusion.db.engine import Database, after_commit, in_transaction

__all__ = ["Base", "Database", "after_commit", "in_transaction", "metadata"]
