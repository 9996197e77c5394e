"""The theme app extension (`extensions/sticky-rewards/`) is well-formed for `shopify app deploy`
and its launcher opens the widget through the app proxy the app declares."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "extensions" / "sticky-rewards"
LAUNCHER = EXTENSION / "blocks" / "rewards-launcher.liquid"


def schema_of(liquid: str) -> dict:
    match = re.search(r"\{%\s*schema\s*%\}(.*?)\{%\s*endschema\s*%\}", liquid, re.S)
    assert match, "the block has no {% schema %}"
    return json.loads(match.group(1))


def test_the_extension_is_a_theme_extension():
    config = tomllib.loads((EXTENSION / "shopify.extension.toml").read_text())
    assert config["type"] == "theme" and config["name"]


def test_the_launcher_is_an_app_embed_block_with_its_settings_and_assets():
    schema = schema_of(LAUNCHER.read_text())
    assert schema["target"] == "body"
    ids = [s["id"] for s in schema["settings"]]
    assert len(ids) == len(set(ids))
    assert {"label", "position", "background", "text_color"} <= set(ids)
    position = next(s for s in schema["settings"] if s["id"] == "position")
    assert position["default"] in {o["value"] for o in position["options"]}
    for asset in (schema["stylesheet"], schema["javascript"]):
        assert (EXTENSION / "assets" / asset).is_file(), asset


def test_the_launcher_opens_the_widget_through_the_declared_app_proxy(app):
    proxy = tomllib.loads((ROOT / "shopify.app.toml").read_text())["app_proxy"]
    storefront_path = f"/{proxy['prefix']}/{proxy['subpath']}/rewards"
    assert f"assign rewards_url = '{storefront_path}'" in LAUNCHER.read_text()
    # The proxy URL's path plus "/rewards" is the widget's route in this app.
    proxied = re.sub(r"^https?://[^/]+", "", proxy["url"]).rstrip("/") + "/rewards"
    assert proxied == "/proxy/rewards"
    assert any(rule.rule == proxied for rule in app.url_map.iter_rules())


def test_every_translated_string_the_block_uses_exists_in_english():
    strings = json.loads((EXTENSION / "locales" / "en.default.json").read_text())
    for key in re.findall(r"'([a-z_.]+)'\s*\|\s*t\b", LAUNCHER.read_text()):
        node = strings
        for part in key.split("."):
            assert part in node, f"{key} is missing from en.default.json"
            node = node[part]
        assert isinstance(node, str)
