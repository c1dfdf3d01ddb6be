"""Photo evidence in the document format: an optional rule on an evidence tier, checked
on submission, in the JSON Schema, and absent from documents that do not use it."""

from __future__ import annotations

import json

import pytest

from carbon_inclusion import rules
from tests.methodologies.conftest import document
from tests.rules.conftest import SEED


def with_tiers(**self_reported) -> dict:
    return document("PH-DOC", evidence={"partner_verified": {"factor": "1"},
                                        "self_reported": {"factor": "0.5", **self_reported}})


def refused(doc: dict) -> list[tuple[str, str]]:
    with pytest.raises(rules.DocumentError) as caught:
        rules.load_document(doc)
    return [(p.field, p.message) for p in caught.value.errors]


@pytest.mark.parametrize("path", sorted(SEED.glob("*.json")), ids=lambda p: p.stem)
def test_documents_without_photos_are_stored_and_hashed_as_before(path):
    """The stored form names no photo field, so every existing document keeps its sha256."""
    m = rules.load_document(json.loads(path.read_text()))
    for tier in m.to_dict()["evidence"].values():
        assert "photo" not in tier and "photo_review" not in tier
    assert rules.load_document(m.to_dict()).sha256 == m.sha256


def test_a_photo_rule_is_stored_as_written_and_changes_the_hash():
    plain = rules.load_document(with_tiers())
    m = rules.load_document(with_tiers(photo="optional", photo_review=True))
    assert m.to_dict()["evidence"]["self_reported"] == {
        "factor": "0.5", "photo": "optional", "photo_review": True}
    assert m.sha256 != plain.sha256
    # An explicit null or false is the same document as none.
    assert rules.load_document(with_tiers(photo=None, photo_review=False)).sha256 == plain.sha256


@pytest.mark.parametrize(("tier", "field", "message"), [
    ({"photo": "sometimes"}, "evidence.self_reported.photo", "Invalid enum value"),
    ({"photo": True}, "evidence.self_reported.photo", "Expected `str | null`"),
    ({"photo_review": True}, "evidence.self_reported.photo_review", "needs photo"),
    ({"photo": "required", "photo_review": "yes"}, "evidence.self_reported.photo_review",
     "Expected `bool`"),
])
def test_a_photo_rule_that_does_not_check_is_refused_naming_the_field(tier, field, message):
    problems = refused(with_tiers(**tier))
    assert [f for f, _ in problems] == [field], problems
    assert message in problems[0][1]


def test_only_self_reports_carry_photos():
    doc = document("PH-DOC", evidence={"partner_verified": {"factor": "1", "photo": "required"},
                                       "self_reported": {"factor": "0.5"}})
    assert refused(doc) == [("evidence.partner_verified.photo",
                             "only self_reported behaviours carry a photo")]


@pytest.mark.parametrize(("rule", "review", "has_photo", "problem", "to_review"), [
    (None, False, False, None, False),
    (None, False, True, "takes no photo", False),
    ("optional", False, False, None, False),
    ("optional", False, True, None, False),
    ("optional", True, False, None, False),
    ("optional", True, True, None, True),
    ("required", False, False, "needs a photo", False),
    ("required", False, True, None, False),
    ("required", True, True, None, True),
])
def test_what_a_tier_says_of_a_behaviour_with_or_without_a_photo(rule, review, has_photo,
                                                                 problem, to_review):
    tier = rules.load_document(with_tiers(**({"photo": rule} if rule else {}),
                                          **({"photo_review": True} if review else {}))
                               ).evidence["self_reported"]
    found = rules.photo_problem(tier, has_photo)
    assert (found is None) == (problem is None) and (problem is None or problem in found)
    assert rules.photo_sends_to_review(tier, has_photo) is to_review


def test_the_json_schema_describes_the_photo_rule():
    tier = rules.methodology_schema()["$defs"]["EvidenceTier"]["properties"]
    assert tier["photo"]["anyOf"][0]["enum"] == ["optional", "required"]
    assert "absent" in tier["photo"]["anyOf"][0]["description"]
    assert tier["photo_review"]["type"] == "boolean"
    assert "review" in tier["photo_review"]["description"]
