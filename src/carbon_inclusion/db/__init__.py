from carbon_inclusion.db.base import Base, metadata
from carbon_inclusion.db.engine import Database

__all__ = ["Base", "Database", "metadata"]
