"""What a methodology version would have paid for the behaviours recorded in a window,
beside what was paid, per type and district (before daily caps)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from carbon_inclusion import rules
from carbon_inclusion.behaviours import repository
from carbon_inclusion.behaviours.schemas import SimulationOut, SimulationRow
from carbon_inclusion.behaviours.views import grams_text
from carbon_inclusion.db import Database
from carbon_inclusion.errors import InvalidInput, NotFound
from carbon_inclusion.methodologies import repository as methodologies

ZERO = Decimal(0)
MAX_WINDOW = dt.timedelta(days=92)


class Simulator:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def simulate(self, code: str, version: int, occurred_from: dt.datetime,
                       occurred_to: dt.datetime) -> SimulationOut:
        if occurred_to <= occurred_from:
            raise InvalidInput.field("occurred_to", "must be later than occurred_from")
        if occurred_to - occurred_from > MAX_WINDOW:
            raise InvalidInput.field("occurred_to", "the window is at most 92 days")
        async with self.db.engine.connect() as conn:
            found = await methodologies.by_code_version(conn, code, version)
            if found is None:
                raise NotFound(f"No methodology {code} v{version}.")
            behaviour, document = found
            compiled = rules.compile_methodology(rules.load_document(document))
            acc: dict[tuple[str, str], list[Any]] = {}
            async for r in repository.scored_in_window(conn, behaviour, occurred_from,
                                                       occurred_to):
                a = acc.setdefault((r.type, r.district_code), [0, ZERO, 0, ZERO, 0, 0, 0])
                a[0] += 1
                if r.status == "credited":
                    a[1] += r.reduction_g
                    a[2] += r.points
                try:
                    e = compiled.evaluate(r.data, r.evidence)
                except rules.InputError:
                    a[6] += 1
                    continue
                a[3] += e.reduction_g
                a[4] += e.points
                if (e.reduction_g, e.points) != (r.computed_reduction_g, r.computed_points):
                    a[5] += 1
        rows = [SimulationRow(type=k[0], district=k[1], behaviours=a[0],
                              paid_reduction_g=grams_text(a[1]), paid_points=a[2],
                              simulated_reduction_g=grams_text(a[3]), simulated_points=a[4],
                              changed=a[5], not_scorable=a[6])
                for k, a in sorted(acc.items())]
        return SimulationOut(code=code, version=version, occurred_from=occurred_from,
                             occurred_to=occurred_to, rows=rows)
