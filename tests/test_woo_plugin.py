"""The companion WordPress plugin: valid PHP, and the same contract names as the connector."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from connectors.woocommerce import carts

PLUGIN = (Path(__file__).resolve().parents[1]
          / "connectors" / "woocommerce" / "plugin" / "sticky-for-woocommerce")
MAIN = PLUGIN / "sticky-for-woocommerce.php"
PHP_FILES = sorted(PLUGIN.rglob("*.php"))


def php_constant(source: str, name: str) -> str:
    match = re.search(rf"const\s+{name}\s*=\s*'([^']*)'\s*;", source)
    assert match, f"the plugin declares no constant {name}"
    return match.group(1)


def test_plugin_has_its_files():
    names = {p.relative_to(PLUGIN).as_posix() for p in PLUGIN.rglob("*") if p.is_file()}
    assert {"sticky-for-woocommerce.php", "uninstall.php", "readme.txt",
            "includes/class-sticky-cart-store.php", "assets/sticky-checkout.js"} <= names


@pytest.mark.skipif(shutil.which("php") is None,
                    reason="php is not on PATH (apt-get install php-cli); .ci/run installs it")
@pytest.mark.parametrize("path", PHP_FILES, ids=lambda p: p.relative_to(PLUGIN).as_posix())
def test_every_plugin_file_passes_php_lint(path):
    result = subprocess.run(["php", "-l", str(path)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax errors detected" in result.stdout


def test_plugin_declares_the_contract_names_the_connector_uses():
    source = MAIN.read_text()
    assert php_constant(source, "TOPIC") == carts.TOPIC
    assert php_constant(source, "RESOURCE") == carts.RESOURCE
    assert php_constant(source, "EVENT") == carts.EVENT
    assert php_constant(source, "CART_KEY_META") == carts.CART_KEY_META
    assert carts.TOPIC == f"{carts.RESOURCE}.{carts.EVENT}"


def test_plugin_registers_the_topic_through_woocommerce_filters_and_tags_both_checkouts():
    source = MAIN.read_text()
    for hook in ("woocommerce_valid_webhook_resources", "woocommerce_valid_webhook_events",
                 "woocommerce_webhook_topics", "woocommerce_webhook_topic_hooks",
                 "woocommerce_webhook_payload", "woocommerce_checkout_create_order",
                 "woocommerce_store_api_checkout_update_order_meta",
                 "woocommerce_store_api_cart_update_customer_from_request",
                 "woocommerce_cart_emptied"):
        assert f"'{hook}'" in source, f"the plugin does not hook {hook}"


def test_payload_keys_are_the_contract_fields_the_connector_reads():
    # The keys of the array built in payload_from_row() are exactly the contract's body.
    source = MAIN.read_text()
    body = source[source.index("private function payload_from_row"):]
    body = body[body.index("return array("):body.index(");\n\t}")]
    keys = set(re.findall(r"^\t\t\t'([a-z_]+)'\s+=>", body, re.M))
    assert keys == {"id", "customer_id", "email", "email_consent", "currency", "subtotal",
                    "total", "items", "recovery_url", "source", "status", "date_created_gmt",
                    "date_modified_gmt"}


def test_every_php_file_refuses_direct_access_and_has_a_plugin_header():
    for path in PHP_FILES:
        text = path.read_text()
        guard = "WP_UNINSTALL_PLUGIN" if path.name == "uninstall.php" else "ABSPATH"
        assert f"defined( '{guard}' ) || exit;" in text, f"{path.name} lacks the {guard} guard"
    header = MAIN.read_text()[:1500]
    for field in ("Plugin Name:", "Version:", "Requires Plugins:", "License:", "Text Domain:"):
        assert field in header
