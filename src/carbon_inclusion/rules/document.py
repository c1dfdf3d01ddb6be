"""The methodology document: its schema, and the checks that run when one is submitted.

The schema is the msgspec types below (``methodology_schema()`` renders them as JSON
Schema). Loading a document checks, in order: its shape and types, then its names, then each
formula against the names and types it may use (see ``expressions``), and reports every
fault with the dotted path of the field it is in.

A loaded document is normalised (decimals as strings, times as RFC 3339): ``to_dict()`` is
what is stored and served, and ``sha256`` is the hash of its canonical JSON, so the same
document always has the same hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import keyword
import re
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

import msgspec

from carbon_inclusion.common.canonical import canonical_json
from carbon_inclusion.common.decoding import field_of
from carbon_inclusion.rules.errors import DocumentError, Problem
from carbon_inclusion.rules.expressions import (
    BOOL,
    RESERVED,
    Formula,
    FormulaError,
    Range,
    Type,
    number,
    parse,
)

CODE_PATTERN = r"^[A-Z][A-Z0-9-]{1,31}$"
BEHAVIOUR_PATTERN = r"^[a-z][a-z0-9_]{1,47}$"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
FLAG_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"
MAX_REVIEW_FLAGS = 10
MAX_WINDOW_S = 86_400
LIMIT = Decimal("1e12")  # no factor, bound or cap in a methodology is anywhere near this
# Behaviours above this percentile of their type's grams are outliers in a batch's
# monitoring report; a document may set its own (``plausibility_percentile``).
DEFAULT_PLAUSIBILITY_PERCENTILE = Decimal(99)
PLAUSIBILITY_BOUNDS = (Decimal(50), Decimal(100))

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
LongText = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
RoundingMode = Literal["half_even", "half_up", "half_down", "down", "up", "floor", "ceiling"]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    pass


class Title(_Strict, kw_only=True):
    zh: Text
    en: Text


class InputSpec(_Strict, kw_only=True):
    """One datum a behaviour carries: an enum, or a bounded decimal or integer."""

    type: Literal["decimal", "integer", "enum"]
    values: list[Annotated[str, msgspec.Meta(min_length=1, max_length=40)]] | None = None
    min: Decimal | None = None
    max: Decimal | None = None
    places: Annotated[int, msgspec.Meta(ge=0, le=6)] | None = None
    default: str | None = None  # makes the input optional; the value used is stored
    unit: Text | None = None
    description: LongText | None = None


class Param(_Strict, kw_only=True):
    """A named constant of the formula, with its unit and where its value comes from."""

    value: Decimal | dict[str, Decimal]
    unit: Text
    source: LongText
    note: LongText | None = None


class Step(_Strict, kw_only=True):
    """A named intermediate value, shown by ``evaluate`` and usable by later formulas."""

    name: str
    formula: LongText
    unit: Text | None = None


class Condition(_Strict, kw_only=True):
    """A rule the behaviour's data must satisfy, e.g. a metro trip states its distance."""

    require: LongText
    field: str
    message: LongText


class ReviewFlag(_Strict, kw_only=True):
    """A rule that sends a behaviour to review instead of paying it at once: when ``when``
    (a condition over the inputs, parameters and steps) holds, the behaviour waits for a
    person, flagged ``flag`` with ``message``, whatever its evidence tier. Unlike a
    condition, it refuses nothing: a reviewer may still approve it."""

    flag: Annotated[str, msgspec.Meta(pattern=FLAG_PATTERN)]
    when: LongText
    field: str | None = None  # the input the flag is about, shown to the reviewer
    message: LongText


class Rounding(_Strict, kw_only=True):
    """Stated in every document: grams are rounded to ``places`` decimals by ``mode``."""

    places: Annotated[int, msgspec.Meta(ge=0, le=3)]  # stored as NUMERIC(20, 3)
    mode: RoundingMode


class Reduction(_Strict, kw_only=True):
    formula: LongText
    rounding: Rounding


class Points(_Strict, kw_only=True):
    formula: LongText


PhotoRule = Literal["required", "optional"]


class EvidenceTier(_Strict, kw_only=True):
    """How a behaviour proven this way pays: ``factor`` of the grams, and whether a person
    must review it before anything is credited.

    ``photo`` (self-reports only): whether the report carries a photo uploaded beforehand
    (``required``, ``optional``; absent: it takes none), and ``photo_review`` whether one
    that carries a photo waits for a person to look at it. Both are left out of the stored
    document when absent, so documents written before them keep their hash."""

    factor: Decimal  # 0..1, checked in load_document
    review: bool = False
    photo: Annotated[PhotoRule, msgspec.Meta(description=(
        "Optional, self-reported tier only. `required`: a report without a photo is "
        "refused; `optional`: a photo may come with it; absent: it takes none."))] | None = None
    photo_review: Annotated[bool, msgspec.Meta(description=(
        "Optional, with `photo`: a behaviour that carries a photo waits for review "
        "(a person looks at the photo) before anything is credited."))] = False


class DailyLimits(_Strict, kw_only=True):
    """Caps per citizen, per behaviour type, per programme period (``limits.per_day``: a
    programme day; ``limits.per_month``: a calendar month in programme time). The remainder
    up to a cap is paid; past a count cap, nothing."""

    count: Annotated[int, msgspec.Meta(
        ge=1, le=10_000, description="At most this many behaviours are paid in the period.")
                     ] | None = None
    grams: Annotated[Decimal, msgspec.Meta(
        description="At most this many grams CO2e are credited in the period (> 0).")
                     ] | None = None  # > 0, checked in load_document
    points: Annotated[int, msgspec.Meta(
        ge=1, description="At most this many points are paid in the period.")] | None = None


PeriodLimits = DailyLimits  # the same caps, whatever the period they count over


class Limits(_Strict, kw_only=True):
    """Caps per period. Each is optional and left out of the stored document when absent."""

    per_day: DailyLimits | None = None
    per_month: PeriodLimits | None = None

    def by_period(self) -> dict[str, DailyLimits]:
        """The declared caps by period unit (``day``, ``month``), days first."""
        out = {}
        if self.per_day is not None:
            out["day"] = self.per_day
        if self.per_month is not None:
            out["month"] = self.per_month
        return out


class OncePer(_Strict, kw_only=True):
    """A period behaviour: a citizen has at most one open (credited or waiting) behaviour of
    this type per ``period`` (programme time), held by a unique key in the database. What a
    later record of the same period does is ``later``."""

    period: Annotated[Literal["day", "month"], msgspec.Meta(
        description="The period, in the programme's time zone: a programme day, or a "
                    "calendar month.")]
    later: Annotated[Literal["supersede", "supersede_if_greater", "refuse"], msgspec.Meta(
        description="A later record of the same period: `supersede` replaces the earlier "
                    "one (its pay is reversed by a compensating ledger entry and the new "
                    "one is paid); `supersede_if_greater` does so only when the later one "
                    "computes more grams, and is refused `period_taken` otherwise; "
                    "`refuse` refuses it `period_taken`. Whatever it says, a partner's "
                    "record supersedes an app self-report and a self-report never replaces "
                    "a partner's record (`recorded_by_partner`); an earlier one already in "
                    "a credit batch is never superseded (`issued_as_credits`).")]


class Document(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The whole document. Stored with every field present, defaults included."""

    code: Annotated[str, msgspec.Meta(pattern=CODE_PATTERN)]
    version: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    title: Title
    behaviour: Annotated[str, msgspec.Meta(pattern=BEHAVIOUR_PATTERN)]
    effective_from: dt.datetime
    effective_to: dt.datetime | None = None
    inputs: dict[str, Any]
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    conditions: list[Condition] = msgspec.field(default_factory=list)
    steps: list[Step] = msgspec.field(default_factory=list)
    reduction_g: Reduction
    points: Points
    evidence: dict[str, Any]
    limits: Limits = msgspec.field(default_factory=Limits)
    allow_negative: bool = False
    summary: LongText | None = None
    notes: list[LongText] = msgspec.field(default_factory=list)
    # Optional, and left out of the stored document when absent, so that documents written
    # before it existed keep their hash; ``Methodology.plausibility_percentile`` applies
    # the default. 50..100, checked in load_document.
    plausibility_percentile: Decimal | None = None
    # Optional, and left out of the stored document when absent (as above): the conditions
    # that send a behaviour to review rather than refuse it (``ReviewFlag``).
    review_flags: list[ReviewFlag] | None = None
    # Optional, left out when absent (as above): how close in time two records of one
    # citizen's behaviour of this type are one behaviour (seconds; 0: never); absent, the
    # programme's same-trip window (``SAME_TRIP_WINDOW``).
    same_behaviour_window_s: Annotated[int, msgspec.Meta(ge=0, le=MAX_WINDOW_S)] | None = None
    # Optional, left out when absent (as above): a period behaviour (``OncePer``).
    once_per: OncePer | None = None



EVIDENCE_TIERS = ("partner_verified", "self_reported")
# Fields added after documents were first published: omitted from the stored document when
# absent, so that every document written before them keeps its sha256.
OPTIONAL_FIELDS = ("plausibility_percentile", "review_flags", "same_behaviour_window_s",
                   "once_per")
# The tiers whose behaviours may carry a photo: a citizen uploads it with a self-report;
# a partner's records carry none.
PHOTO_TIERS = ("self_reported",)


def photo_problem(tier: EvidenceTier, has_photo: bool) -> str | None:
    """What is wrong with a behaviour of ``tier`` carrying a photo or not (None: nothing)."""
    if tier.photo == "required" and not has_photo:
        return ("this behaviour needs a photo: upload it (POST /v1/photos) and name it "
                "here")
    if tier.photo is None and has_photo:
        return "this behaviour takes no photo"
    return None


def photo_sends_to_review(tier: EvidenceTier, has_photo: bool) -> bool:
    """Whether a behaviour of ``tier`` waits for review because of the photo it carries."""
    return has_photo and tier.photo is not None and tier.photo_review


class Methodology:
    """A checked document with its typed parts, parsed formulas and content hash."""

    def __init__(self, doc: Document, inputs: dict[str, InputSpec], params: dict[str, Param],
                 evidence: dict[str, EvidenceTier], formulas: dict[str, Formula]) -> None:
        self.doc = doc
        self.inputs = inputs
        self.params = params
        self.evidence = evidence
        self.formulas = formulas  # "steps.<name>", "reduction_g", "points", in order

    code = property(lambda self: self.doc.code)
    version = property(lambda self: self.doc.version)
    behaviour = property(lambda self: self.doc.behaviour)
    effective_from = property(lambda self: self.doc.effective_from)
    effective_to = property(lambda self: self.doc.effective_to)

    @property
    def plausibility_percentile(self) -> Decimal:
        """The percentile of a behaviour type's grams above which a behaviour is an outlier
        in a batch's monitoring report (the document's, else 99)."""
        value = self.doc.plausibility_percentile
        return DEFAULT_PLAUSIBILITY_PERCENTILE if value is None else value

    def to_dict(self) -> dict[str, Any]:
        out = msgspec.to_builtins(self.doc)
        for optional in OPTIONAL_FIELDS:  # absent, as before the field existed
            if getattr(self.doc, optional) is None:
                del out[optional]
        out["inputs"] = msgspec.to_builtins(self.inputs)
        out["params"] = msgspec.to_builtins(self.params)
        out["evidence"] = msgspec.to_builtins(self.evidence)
        return out

    @cached_property
    def canonical_json(self) -> bytes:
        return canonical_json(self.to_dict())

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json).hexdigest()

    def __repr__(self) -> str:
        return f"<Methodology {self.code} v{self.version} {self.sha256[:12]}>"


class _DocumentShape(Document, kw_only=True):
    """The schema's view of a document: the entries of inputs, params and evidence typed
    (``Document`` takes them loosely so that each entry's errors name the entry)."""

    inputs: dict[str, InputSpec]
    params: dict[str, Param] = msgspec.field(default_factory=dict)
    evidence: dict[str, EvidenceTier]


def plausibility_percentile(document: dict[str, Any]) -> Decimal:
    """``plausibility_percentile`` of a stored (or loaded) document, else the default 99."""
    value = document.get("plausibility_percentile")
    return DEFAULT_PLAUSIBILITY_PERCENTILE if value is None else Decimal(str(value))


PLAUSIBILITY_SCHEMA = {
    "anyOf": [{"type": "number", "minimum": 50, "maximum": 100},
              {"type": "string", "format": "decimal"}],
    "default": "99",
    "description": "Optional. Behaviours whose grams lie above this percentile of their "
                   "type's grams in a batch are listed as outliers in the batch's monitoring "
                   "report. A number from 50 to 100 (a JSON number or a decimal string); "
                   "absent means 99.",
}


REVIEW_FLAGS_DESCRIPTION = (
    "Optional. Conditions that send a behaviour to review instead of refusing it: when a "
    "flag's `when` holds (a condition over the inputs, parameters and steps, type-checked "
    "like every formula), the behaviour is recorded as pending_review, whatever its "
    "evidence tier, with the flag's name in `flags` and its `field` and `message` in "
    f"`reason_detail.review_flags`. At most {MAX_REVIEW_FLAGS}, with distinct names; "
    "absent means none.")


SAME_BEHAVIOUR_WINDOW_DESCRIPTION = (
    "Optional. Two records of one citizen's behaviour of this type whose occurred_at lie "
    "within this many seconds of each other are one behaviour: a partner's record "
    "supersedes the app's self-report of it, a self-report of one a partner sent is "
    "refused, a second partner record of it waits for review as duplicate_trip. 0: never "
    "(each record is a behaviour of its own; a partner's external_id still de-duplicates "
    "a record sent twice), for behaviours a citizen may well repeat within minutes "
    "(receipts, trades). Absent: the programme's same-trip window (SAME_TRIP_WINDOW, "
    "600 s by default).")


PER_DAY_TEXT = ("Optional. Caps per citizen and programme day (the programme's time zone), "
                "for this behaviour type.")
PER_MONTH_TEXT = ("Optional. Caps per citizen and calendar month (programme time), for this "
                  "behaviour type, counted over the month's daily totals; applied after "
                  "per_day. Absent: no monthly cap.")
ONCE_PER_TEXT = ("Optional. Makes the behaviour a period behaviour: at most one per citizen "
                 "per day or month (programme time), and what a later record of the same "
                 "period does. Absent: no such rule (behaviours of one trip are settled by "
                 "the same-trip window instead).")


def methodology_schema() -> dict[str, Any]:
    """JSON Schema of the document's shape (the semantic checks come on top)."""
    schema = msgspec.json.schema(_DocumentShape)
    defs = schema["$defs"]
    defs["Document"] = defs.pop("_DocumentShape") | {"title": "Methodology document"}
    props = defs["Document"]["properties"]
    props["plausibility_percentile"] = PLAUSIBILITY_SCHEMA
    props["review_flags"] = {"type": "array", "items": {"$ref": "#/$defs/ReviewFlag"},
                             "maxItems": MAX_REVIEW_FLAGS,
                             "description": REVIEW_FLAGS_DESCRIPTION}
    props["same_behaviour_window_s"] = {
        "type": "integer", "minimum": 0, "maximum": MAX_WINDOW_S,
        "description": SAME_BEHAVIOUR_WINDOW_DESCRIPTION}
    props["once_per"] = {"anyOf": [{"$ref": "#/$defs/OncePer"}, {"type": "null"}],
                         "default": None, "description": ONCE_PER_TEXT}
    limits = defs["Limits"]["properties"]
    limits["per_day"]["description"] = PER_DAY_TEXT
    limits["per_month"]["description"] = PER_MONTH_TEXT
    schema["$ref"] = "#/$defs/Document"
    return schema


# --- loading ------------------------------------------------------------------------------


def _convert(raw: Any, kind: type[msgspec.Struct], path: str,
             problems: list[Problem]) -> Any:
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        problems.append(Problem(*field_of(exc, path)))
        return None


def _entries(raw: dict[str, Any], kind: type[msgspec.Struct], path: str,
             problems: list[Problem]) -> dict[str, Any]:
    out = {}
    for name, value in raw.items():
        item = _convert(value, kind, f"{path}.{name}", problems)
        if item is not None:
            out[name] = item
    return out


def load_document(raw: Any) -> Methodology:
    """Check ``raw`` (decoded JSON) and return it loaded, or raise ``DocumentError``."""
    problems: list[Problem] = []
    doc = _convert(raw, Document, "", problems)
    if doc is None:
        raise DocumentError(problems)
    inputs = _entries(doc.inputs, InputSpec, "inputs", problems)
    params = _entries(doc.params, Param, "params", problems)
    evidence = _entries(doc.evidence, EvidenceTier, "evidence", problems)
    _check_header(doc, problems)
    _check_names(doc, problems)
    types: dict[str, Type] = {}
    for name, spec in inputs.items():
        types[name] = _input_type(spec, f"inputs.{name}", problems)
    for name, param in params.items():
        types[name] = _param_type(param, f"params.{name}", problems)
    if not doc.evidence:
        problems.append(Problem("evidence", "declare at least one evidence tier"))
    for name, tier in evidence.items():
        if not (tier.factor.is_finite() and 0 <= tier.factor <= 1):
            problems.append(Problem(f"evidence.{name}.factor", "must be between 0 and 1"))
        if name not in EVIDENCE_TIERS:
            problems.append(Problem(f"evidence.{name}",
                                    f"unknown tier; use {' or '.join(EVIDENCE_TIERS)}"))
        elif tier.photo is not None and name not in PHOTO_TIERS:
            problems.append(Problem(f"evidence.{name}.photo",
                                    f"only {' and '.join(PHOTO_TIERS)} behaviours carry a "
                                    "photo"))
        if tier.photo_review and tier.photo is None:
            problems.append(Problem(f"evidence.{name}.photo_review",
                                    "needs photo (required or optional)"))
    if problems:  # formulas are checked against a sound set of names only
        raise DocumentError(problems)

    formulas: dict[str, Formula] = {}
    input_types = dict(types)
    for i, cond in enumerate(doc.conditions):
        path = f"conditions[{i}]"
        if cond.field not in inputs:
            problems.append(Problem(f"{path}.field", "must name an input"))
        if (formula := _condition(f"{path}.require", cond.require, input_types,
                                  problems)) is not None:
            formulas[f"conditions.{i}"] = formula

    def check(path: str, source: str, scope: dict[str, Type]) -> Formula | None:
        try:
            formula = parse(source, scope)
        except FormulaError as exc:
            problems.append(Problem(path, str(exc)))
            return None
        if not formula.type.numeric:
            problems.append(Problem(path, f"is {formula.type.describe()}, not a number"))
            return None
        return formula

    for i, step in enumerate(doc.steps):
        formula = check(f"steps[{i}].formula", step.formula, types)
        if formula is not None:
            formulas[f"steps.{step.name}"] = formula
            types[step.name] = Type("number", formula.type.range)
        else:
            types[step.name] = number(-LIMIT, LIMIT)
    _check_review_flags(doc, inputs, types, formulas, problems)
    reduction = check("reduction_g.formula", doc.reduction_g.formula, types)
    if reduction is not None:
        formulas["reduction_g"] = reduction
        r = reduction.type.range
        assert r is not None
        lo = r.lo if doc.allow_negative else max(r.lo, Decimal(0))
        types_points = {**types, "reduction_g": Type("number", Range(lo, max(lo, r.hi)))}
        points = check("points.formula", doc.points.formula, types_points)
        if points is not None:
            if points.type.kind != "integer":
                problems.append(Problem("points.formula",
                                        "must give a whole number: wrap it in floor(...) "
                                        "or ceil(...)"))
            elif "reduction_g" not in points.names:
                problems.append(Problem("points.formula",
                                        "must be computed from reduction_g"))
            else:
                formulas["points"] = points
    if problems:
        raise DocumentError(problems)
    unused = set(params) - {n for f in formulas.values() for n in f.names}
    for name in sorted(unused):
        problems.append(Problem(f"params.{name}", "is not used by any formula"))
    if problems:
        raise DocumentError(problems)
    return Methodology(doc, inputs, params, evidence, formulas)


def _check_review_flags(doc: Document, inputs: dict[str, InputSpec], types: dict[str, Type],
                        formulas: dict[str, Formula], problems: list[Problem]) -> None:
    """Each flag's ``when`` is a condition over the inputs, parameters and steps; parsed
    flags go into ``formulas`` as ``review_flags.<i>``."""
    flags = doc.review_flags or []
    if not flags:
        doc.review_flags = None  # an empty list says what absence says: stored as absent
    if len(flags) > MAX_REVIEW_FLAGS:
        problems.append(Problem("review_flags", f"at most {MAX_REVIEW_FLAGS} flags"))
        return
    seen: set[str] = set()
    for i, flag in enumerate(flags):
        path = f"review_flags[{i}]"
        if flag.flag in seen:
            problems.append(Problem(f"{path}.flag", f"`{flag.flag}` is already a flag"))
        seen.add(flag.flag)
        if flag.field is not None and flag.field not in inputs:
            problems.append(Problem(f"{path}.field", "must name an input"))
        if (formula := _condition(f"{path}.when", flag.when, types, problems)) is not None:
            formulas[f"review_flags.{i}"] = formula


def _condition(path: str, source: str, types: dict[str, Type],
               problems: list[Problem]) -> Formula | None:
    """``source`` parsed as a condition (a formula of type bool), else None and a problem
    at ``path``."""
    try:
        formula = parse(source, types)
    except FormulaError as exc:
        problems.append(Problem(path, str(exc)))
        return None
    if formula.type.kind != "bool":
        problems.append(Problem(path, f"is {formula.type.describe()}, not a condition"))
        return None
    return formula


def _check_header(doc: Document, problems: list[Problem]) -> None:
    if doc.once_per is not None and doc.same_behaviour_window_s is not None:
        problems.append(Problem("same_behaviour_window_s", "a period behaviour (once_per) "
                                "is settled by its period, not by a window; leave it out"))
    if doc.effective_from.tzinfo is None:
        problems.append(Problem("effective_from", "must include a UTC offset, e.g. +08:00"))
    if doc.effective_to is not None:
        if doc.effective_to.tzinfo is None:
            problems.append(Problem("effective_to", "must include a UTC offset, e.g. +08:00"))
        elif doc.effective_from.tzinfo is not None and doc.effective_to <= doc.effective_from:
            problems.append(Problem("effective_to", "must be later than effective_from"))
    if not doc.inputs:
        problems.append(Problem("inputs", "declare at least one input"))
    pct, (lo, hi) = doc.plausibility_percentile, PLAUSIBILITY_BOUNDS
    if pct is not None and not (pct.is_finite() and lo <= pct <= hi):
        problems.append(Problem("plausibility_percentile", f"must be between {lo} and {hi}"))
    for name, caps in (("per_day", doc.limits.per_day), ("per_month", doc.limits.per_month)):
        if caps is not None and caps.grams is not None and not (
                caps.grams.is_finite() and 0 < caps.grams < LIMIT):
            problems.append(Problem(f"limits.{name}.grams", "must be a positive number"))
    if len(doc.inputs) > 20 or len(doc.params) > 50 or len(doc.steps) > 20:
        problems.append(Problem("inputs", "at most 20 inputs, 50 params and 20 steps"))


def _check_names(doc: Document, problems: list[Problem]) -> None:
    seen: dict[str, str] = {}
    declared = [(f"inputs.{n}", n) for n in doc.inputs]
    declared += [(f"params.{n}", n) for n in doc.params]
    declared += [(f"steps[{i}].name", s.name) for i, s in enumerate(doc.steps)]
    for path, name in declared:
        if not NAME_PATTERN.match(name) or keyword.iskeyword(name):
            problems.append(Problem(path, "a name is lower-case letters, digits and _, "
                                    "starting with a letter, at most 40 characters"))
        elif name in RESERVED:
            problems.append(Problem(path, f"`{name}` is reserved"))
        elif name in seen:
            problems.append(Problem(path, f"`{name}` is already declared at {seen[name]}"))
        seen[name] = path


def _finite(value: Decimal, path: str, problems: list[Problem]) -> bool:
    if not value.is_finite() or abs(value) > LIMIT:
        problems.append(Problem(path, f"must be a finite number of magnitude under {LIMIT}"))
        return False
    return True


def _input_type(spec: InputSpec, path: str, problems: list[Problem]) -> Type:
    if spec.type == "enum":
        if not spec.values:
            problems.append(Problem(f"{path}.values", "an enum declares its values"))
        elif len(set(spec.values)) != len(spec.values):
            problems.append(Problem(f"{path}.values", "values must be distinct"))
        for field in ("min", "max", "places"):
            if getattr(spec, field) is not None:
                problems.append(Problem(f"{path}.{field}", "an enum has no " + field))
        if spec.default is not None and spec.default not in (spec.values or ()):
            problems.append(Problem(f"{path}.default", "must be one of the values"))
        return Type("enum", values=frozenset(spec.values or ()))
    if spec.values is not None:
        problems.append(Problem(f"{path}.values", "only an enum has values"))
    ok = True
    for field in ("min", "max"):
        value = getattr(spec, field)
        if value is None:
            problems.append(Problem(f"{path}.{field}", "a number input declares its bounds"))
            ok = False
        elif not _finite(value, f"{path}.{field}", problems):
            ok = False
        elif spec.type == "integer" and value != value.to_integral_value():
            problems.append(Problem(f"{path}.{field}", "must be a whole number"))
            ok = False
    if not ok:
        return number(-LIMIT, LIMIT)
    assert spec.min is not None and spec.max is not None
    if spec.min > spec.max:
        problems.append(Problem(f"{path}.max", "must not be below min"))
    if spec.type == "integer" and spec.places is not None:
        problems.append(Problem(f"{path}.places", "an integer has no decimal places"))
    if spec.default is not None and not _within(spec.default, spec.min, spec.max):
        problems.append(Problem(f"{path}.default", "must be a number within min and max"))
    return number(spec.min, spec.max, integer=spec.type == "integer")


def _within(text: str, lo: Decimal, hi: Decimal) -> bool:
    try:
        value = Decimal(text)
    except ArithmeticError:
        return False
    return value.is_finite() and lo <= value <= hi


def _param_type(param: Param, path: str, problems: list[Problem]) -> Type:
    if not param.source.strip():
        problems.append(Problem(f"{path}.source", "cite where the value comes from"))
    if isinstance(param.value, dict):
        if not param.value:
            problems.append(Problem(f"{path}.value", "a table needs at least one entry"))
            return Type("table", Range(Decimal(0), Decimal(0)))
        for key, v in param.value.items():
            _finite(v, f"{path}.value.{key}", problems)
        finite = [v for v in param.value.values() if v.is_finite()] or [Decimal(0)]
        return Type("table", Range(min(finite), max(finite)), frozenset(param.value))
    if not _finite(param.value, f"{path}.value", problems):
        return number(-LIMIT, LIMIT)
    return number(param.value, param.value,
                  integer=param.value == param.value.to_integral_value())


__all__ = ["BOOL", "DEFAULT_PLAUSIBILITY_PERCENTILE", "PHOTO_TIERS", "Document",
           "EvidenceTier", "Methodology", "canonical_json", "load_document",
           "methodology_schema", "photo_problem", "photo_sends_to_review",
           "plausibility_percentile"]
