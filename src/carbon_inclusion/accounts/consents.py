"""The privacy notice citizens consent to: data under ``seed/privacy/notice-v<N>.json``.

The current notice is the highest version whose ``effective_on`` has come (by the caller's
clock). A citizen whose latest accepted version is older than the current one is asked again
(``consent_required``) and cannot earn until they accept it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class PrivacyNotice:
    version: int
    effective_on: dt.date
    document: dict[str, Any]


def notice_dir() -> Path:
    """``./seed/privacy`` when run from a checkout, else the one beside the source tree."""
    here = Path("seed") / "privacy"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[3] / "seed" / "privacy"


@lru_cache(maxsize=8)
def load_notices(directory: Path) -> tuple[PrivacyNotice, ...]:
    """Every notice in ``directory``, oldest version first."""
    notices = []
    for path in sorted(directory.glob("notice-v*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        notices.append(PrivacyNotice(int(doc["version"]),
                                     dt.date.fromisoformat(doc["effective_on"]), doc))
    notices.sort(key=lambda n: n.version)
    if not notices:
        raise RuntimeError(f"no privacy notice in {directory}")
    return tuple(notices)


def current_notice(today: dt.date, directory: Path | None = None) -> PrivacyNotice:
    """The notice in force on ``today`` (the oldest one before any is in force)."""
    notices = load_notices(directory or notice_dir())
    in_force = [n for n in notices if n.effective_on <= today]
    return in_force[-1] if in_force else notices[0]


def known_version(version: int, directory: Path | None = None) -> bool:
    return any(n.version == version for n in load_notices(directory or notice_dir()))
