<?php
/**
 * Storage for cart snapshots: one row per cart key in {prefix}sticky_carts.
 *
 * A table, not options or the WooCommerce session, because webhook payloads are built later
 * in a background request (Action Scheduler) that has no access to the shopper's session,
 * and because the rebuild link must work from another browser days later.
 *
 * @package Sticky_For_WooCommerce
 */

defined( 'ABSPATH' ) || exit;

/**
 * Reads and writes cart snapshots.
 */
class Sticky_Cart_Store {

	/**
	 * Schema version; bump when the table changes so dbDelta runs again.
	 */
	const SCHEMA_VERSION = '1';

	/**
	 * Option holding the installed schema version.
	 */
	const SCHEMA_OPTION = 'sticky_cart_schema_version';

	/**
	 * The table name with the site's prefix.
	 *
	 * @return string
	 */
	public static function table() {
		global $wpdb;
		return $wpdb->prefix . 'sticky_carts';
	}

	/**
	 * Create or upgrade the table (activation, and after a plugin update).
	 */
	public static function install() {
		global $wpdb;
		require_once ABSPATH . 'wp-admin/includes/upgrade.php';
		$table   = self::table();
		$charset = $wpdb->get_charset_collate();
		// dbDelta is whitespace-sensitive: two spaces before PRIMARY KEY, one field per line.
		dbDelta(
			"CREATE TABLE {$table} (
  cart_key varchar(64) NOT NULL,
  user_id bigint(20) unsigned NOT NULL DEFAULT 0,
  email varchar(320) NULL,
  email_consent tinyint(1) NOT NULL DEFAULT 0,
  currency char(3) NOT NULL DEFAULT '',
  subtotal varchar(32) NOT NULL DEFAULT '0',
  total varchar(32) NOT NULL DEFAULT '0',
  items longtext NOT NULL,
  items_hash char(32) NOT NULL DEFAULT '',
  state_hash char(32) NOT NULL DEFAULT '',
  source varchar(16) NOT NULL DEFAULT 'classic',
  status varchar(16) NOT NULL DEFAULT 'open',
  order_id bigint(20) unsigned NOT NULL DEFAULT 0,
  created_gmt datetime NOT NULL,
  modified_gmt datetime NOT NULL,
  sent_gmt datetime NULL,
  PRIMARY KEY  (cart_key),
  KEY modified_gmt (modified_gmt),
  KEY email (email(191))
) {$charset};"
		);
		update_option( self::SCHEMA_OPTION, self::SCHEMA_VERSION, false );
	}

	/**
	 * Run install() once after an update that changed the schema.
	 */
	public static function maybe_upgrade() {
		if ( get_option( self::SCHEMA_OPTION ) !== self::SCHEMA_VERSION ) {
			self::install();
		}
	}

	/**
	 * One snapshot row as an array, or null.
	 *
	 * @param string $cart_key Cart key.
	 * @return array|null
	 */
	public static function get( $cart_key ) {
		global $wpdb;
		$table = self::table();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery, WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$row = $wpdb->get_row( $wpdb->prepare( "SELECT * FROM {$table} WHERE cart_key = %s", $cart_key ), ARRAY_A );
		if ( ! $row ) {
			return null;
		}
		$items        = json_decode( $row['items'], true );
		$row['items'] = is_array( $items ) ? $items : array();
		return $row;
	}

	/**
	 * Insert or replace a snapshot row.
	 *
	 * @param array $row Column => value; items as an array.
	 */
	public static function save( array $row ) {
		global $wpdb;
		$row['items'] = wp_json_encode( array_values( $row['items'] ) );
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery
		$wpdb->replace( self::table(), $row );
	}

	/**
	 * Update some columns of a snapshot row.
	 *
	 * @param string $cart_key Cart key.
	 * @param array  $values   Column => value.
	 */
	public static function update( $cart_key, array $values ) {
		global $wpdb;
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery
		$wpdb->update( self::table(), $values, array( 'cart_key' => $cart_key ) );
	}

	/**
	 * Delete snapshots not modified for $days days (daily cron): carts are not kept forever.
	 *
	 * @param int $days Retention in days.
	 */
	public static function purge_older_than( $days ) {
		global $wpdb;
		$table  = self::table();
		$cutoff = gmdate( 'Y-m-d H:i:s', time() - absint( $days ) * DAY_IN_SECONDS );
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery, WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		$wpdb->query( $wpdb->prepare( "DELETE FROM {$table} WHERE modified_gmt < %s", $cutoff ) );
	}

	/**
	 * Remove the email from every snapshot that holds it (privacy eraser).
	 *
	 * @param string $email Email address.
	 * @return int Rows changed.
	 */
	public static function erase_email( $email ) {
		global $wpdb;
		$table = self::table();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery, WordPress.DB.PreparedSQL.InterpolatedNotPrepared
		return (int) $wpdb->query( $wpdb->prepare( "UPDATE {$table} SET email = NULL, email_consent = 0 WHERE email = %s", $email ) );
	}

	/**
	 * Drop the table (uninstall).
	 */
	public static function drop() {
		global $wpdb;
		$table = self::table();
		// phpcs:ignore WordPress.DB.DirectDatabaseQuery, WordPress.DB.PreparedSQL.InterpolatedNotPrepared, WordPress.DB.DirectDatabaseQuery.SchemaChange
		$wpdb->query( "DROP TABLE IF EXISTS {$table}" );
	}
}
