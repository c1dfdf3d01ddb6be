"""Errors of the rules engine: every one names the field it is about."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong, at a dotted path into the document or the behaviour's data."""

    field: str
    message: str


class RulesError(ValueError):
    def __init__(self, errors: list[Problem]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


class DocumentError(RulesError):
    """A methodology document that does not check (shape, types, names, division, sources)."""


class InputError(RulesError):
    """A behaviour's data that does not fit the methodology's declared inputs."""
