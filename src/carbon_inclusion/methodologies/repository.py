# --- used by gamification ---------------------------------------------------------------
# Imports are local to this section so that it can sit at the end of the methodologies
# repository as it grows.

from sqlalchemy import text as _text
from sqlalchemy.ext.asyncio import AsyncConnection as _AsyncConnection

_BEHAVIOUR_TYPES = _text("SELECT DISTINCT behaviour FROM methodology_versions "
                         "WHERE kind = 'behaviour' ORDER BY 1")


async def behaviour_types(conn: _AsyncConnection) -> list[str]:
    """Every behaviour type a methodology (any version, any status) scores, sorted."""
    return list((await conn.execute(_BEHAVIOUR_TYPES)).scalars())
