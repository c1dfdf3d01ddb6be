"""The pages' dictionary (web/static/assets/js/strings.js) has every key the code asks
for, in Chinese and in English, and the two languages have the same keys."""

from __future__ import annotations

import re
from pathlib import Path

from carbon_inclusion.web.pages import STATIC

JS = STATIC / "assets" / "js"
KEY = r"([a-z_][a-z_.0-9]*)"


def dictionary(lang: str) -> set[str]:
    text = (JS / "strings.js").read_text(encoding="utf-8")
    body = text.split(f"export const {lang} = {{", 1)[1].split("\n};", 1)[0]
    return set(re.findall(rf'"{KEY}":', body))


def used() -> set[str]:
    keys: set[str] = set()
    for path in JS.rglob("*.js"):
        code = path.read_text(encoding="utf-8")
        keys |= set(re.findall(rf'\bt\("{KEY}"', code))
        keys |= set(re.findall(rf'menu: "{KEY}"', code))
        keys |= set(re.findall(rf'data-i18n="{KEY}"', code))
    return keys


def test_every_key_used_is_in_both_languages():
    zh, en = dictionary("zh"), dictionary("en")
    assert len(zh) > 300
    assert zh == en, (sorted(zh - en), sorted(en - zh))
    assert not used() - zh, sorted(used() - zh)


def test_chinese_is_the_default():
    i18n = (Path(JS) / "i18n.js").read_text(encoding="utf-8")
    assert 'chosen === "en" ? "en" : "zh"' in i18n
