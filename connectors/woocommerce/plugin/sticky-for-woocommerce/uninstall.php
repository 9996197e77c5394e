<?php
/**
 * Uninstall Sticky for WooCommerce: drop the snapshot table, the options and the schedule.
 *
 * WordPress runs this file only when the plugin is deleted from the Plugins screen.
 *
 * @package Sticky_For_WooCommerce
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

require_once __DIR__ . '/includes/class-sticky-cart-store.php';

Sticky_Cart_Store::drop();
delete_option( Sticky_Cart_Store::SCHEMA_OPTION );
delete_option( 'sticky_restore_secret' );
wp_clear_scheduled_hook( 'sticky_purge_carts' );
// WooCommerce webhooks on the topic are the merchant's: they stay, and WooCommerce stops
// delivering them once the topic is no longer registered.
