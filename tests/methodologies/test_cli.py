"""`carbon-inclusion methodology check|publish` for documents kept in version control."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner
from sqlalchemy import text

from carbon_inclusion.cli import main
from tests.conftest import ROOT
from tests.methodologies.conftest import document


def test_check_accepts_the_seeds_and_names_the_fault_of_a_bad_document(tmp_path):
    runner = CliRunner()
    seeds = sorted(str(p) for p in (ROOT / "seed" / "methodologies").glob("*.json"))
    ok = runner.invoke(main, ["methodology", "check", *seeds])
    assert ok.exit_code == 0, ok.output
    assert ok.output.count(": ok ") == len(seeds)
    assert all(re.fullmatch(rf"{re.escape(seed)}: ok [A-Z0-9-]+ v\d+ sha256=[0-9a-f]{{64}}",
                            line) for seed, line in zip(seeds, ok.output.splitlines(),
                                                        strict=True)), ok.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document("T-CLI", reduction_g={
        "formula": "distance_km / 0", "rounding": {"places": 1, "mode": "half_even"}})))
    refused = runner.invoke(main, ["methodology", "check", str(bad)])
    assert refused.exit_code == 1
    assert "reduction_g.formula" in refused.output and "division" in refused.output


def test_publish_creates_and_publishes_once(tmp_path, monkeypatch, storage, code):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document(code)), encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", storage.database_url)
    runner = CliRunner()
    first = runner.invoke(main, ["methodology", "publish", str(path)])
    assert first.exit_code == 0, first.output
    assert first.stdout == f"{path}: published\n"
    again = runner.invoke(main, ["methodology", "publish", str(path)])
    assert (again.exit_code, again.stdout) == (0, f"{path}: unchanged\n")
    changed = document(code, title={"zh": "改", "en": "changed"})
    path.write_text(json.dumps(changed), encoding="utf-8")
    refused = runner.invoke(main, ["methodology", "publish", str(path)])
    assert refused.exit_code == 1 and "exists with a different document" in refused.output


async def test_publish_wrote_the_audit_log(app, tmp_path, monkeypatch, storage, code):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document(code)), encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", storage.database_url)
    import asyncio

    result = await asyncio.to_thread(CliRunner().invoke, main,
                                     ["methodology", "publish", str(path)])
    assert result.exit_code == 0, result.output
    async with app.state.db.connect() as conn:
        actions = (await conn.execute(text(
            "SELECT action FROM audit_log WHERE subject_id = :s ORDER BY id"),
            {"s": f"{code}/v1"})).scalars().all()
    assert actions == ["methodology.draft_created", "methodology.published"]
