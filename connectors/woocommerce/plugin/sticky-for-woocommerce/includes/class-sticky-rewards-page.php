<?php
/**
 * My Account → Rewards: Sticky's rewards widget for the signed-in customer, in a frame.
 *
 * How the plugin finds Sticky: Sticky creates the webhook for the `sticky_cart.updated` topic
 * when the store connects. Its delivery URL is `<APP_URL>/webhooks/woocommerce/<store id>`
 * (where Sticky is, and which store this is to Sticky) and its secret is shared by both sides
 * (the embed key is derived from it). Nothing has to be configured by hand; the filter
 * `sticky_rewards_connection` can supply array( 'app_url', 'store_id', 'secret' ) instead.
 *
 * @package Sticky_For_WooCommerce
 */

defined( 'ABSPATH' ) || exit;

/**
 * The Rewards endpoint of My Account.
 */
final class Sticky_Rewards_Page {

	const ENDPOINT = 'rewards';
	const TOPIC    = 'sticky_cart.updated';

	/**
	 * Hook the endpoint, the menu item and its content.
	 */
	public static function boot() {
		add_action( 'init', array( __CLASS__, 'add_endpoint' ) );
		add_filter( 'query_vars', array( __CLASS__, 'add_query_var' ), 0 );
		add_filter( 'woocommerce_get_query_vars', array( __CLASS__, 'add_wc_query_var' ) );
		add_filter( 'woocommerce_account_menu_items', array( __CLASS__, 'add_menu_item' ) );
		add_filter( 'woocommerce_endpoint_' . self::ENDPOINT . '_title', array( __CLASS__, 'title' ) );
		add_action( 'woocommerce_account_' . self::ENDPOINT . '_endpoint', array( __CLASS__, 'render' ) );
	}

	/**
	 * `/my-account/rewards/`. The rewrite rules are flushed on activation.
	 */
	public static function add_endpoint() {
		add_rewrite_endpoint( self::ENDPOINT, EP_ROOT | EP_PAGES );
	}

	/**
	 * Let WordPress read the endpoint from the URL.
	 *
	 * @param array $vars Query vars.
	 * @return array
	 */
	public static function add_query_var( $vars ) {
		$vars[] = self::ENDPOINT;
		return $vars;
	}

	/**
	 * Let WooCommerce know the endpoint (its title, is_wc_endpoint_url()).
	 *
	 * @param array $vars Endpoint => slug.
	 * @return array
	 */
	public static function add_wc_query_var( $vars ) {
		$vars[ self::ENDPOINT ] = self::ENDPOINT;
		return $vars;
	}

	/**
	 * "Rewards" in the My Account menu, before "Log out".
	 *
	 * @param array $items Endpoint => label.
	 * @return array
	 */
	public static function add_menu_item( $items ) {
		$logout = isset( $items['customer-logout'] ) ? $items['customer-logout'] : null;
		unset( $items['customer-logout'] );
		$items[ self::ENDPOINT ] = __( 'Rewards', 'sticky-for-woocommerce' );
		if ( null !== $logout ) {
			$items['customer-logout'] = $logout;
		}
		return $items;
	}

	/**
	 * The page title.
	 *
	 * @return string
	 */
	public static function title() {
		return __( 'Rewards', 'sticky-for-woocommerce' );
	}

	/**
	 * Where Sticky is, which store this is to Sticky, and the shared secret; null when the
	 * store is not connected (or the plugin was activated after connecting: Sticky creates
	 * the webhook on its next check).
	 *
	 * @return array|null
	 */
	public static function connection() {
		$found = apply_filters( 'sticky_rewards_connection', null );
		if ( is_array( $found ) && ! empty( $found['app_url'] ) && ! empty( $found['secret'] ) && ! empty( $found['store_id'] ) ) {
			return $found;
		}
		if ( ! class_exists( 'WC_Data_Store' ) || ! function_exists( 'wc_get_webhook' ) ) {
			return null;
		}
		$ids = WC_Data_Store::load( 'webhook' )->search_webhooks(
			array(
				'status' => 'active',
				'limit'  => -1,
			)
		);
		foreach ( (array) $ids as $id ) {
			$webhook = wc_get_webhook( $id );
			if ( ! $webhook || self::TOPIC !== $webhook->get_topic() ) {
				continue;
			}
			if ( preg_match( '#^(https?://.+)/webhooks/woocommerce/([0-9]+)/?$#', (string) $webhook->get_delivery_url(), $match ) && '' !== (string) $webhook->get_secret() ) {
				return array(
					'app_url'  => $match[1],
					'store_id' => (int) $match[2],
					'secret'   => (string) $webhook->get_secret(),
				);
			}
		}
		return null;
	}

	/**
	 * The frame, for the signed-in customer only.
	 */
	public static function render() {
		$user_id = get_current_user_id();
		if ( ! $user_id ) {
			return; // My Account asks guests to sign in before any endpoint shows.
		}
		$connection = self::connection();
		if ( null === $connection ) {
			echo '<p>' . esc_html__( 'Rewards are not available yet. Please check back soon.', 'sticky-for-woocommerce' ) . '</p>';
			return;
		}
		$token = Sticky_Embed_Token::mint( $connection['secret'], $connection['store_id'], $user_id, time() );
		$src   = add_query_arg( 'token', rawurlencode( $token ), trailingslashit( $connection['app_url'] ) . 'embed/rewards' );
		$frame = 'sticky-rewards-frame';
		printf(
			'<iframe id="%1$s" src="%2$s" title="%3$s" style="width:100%%;min-height:640px;border:0;" loading="lazy" referrerpolicy="no-referrer"></iframe>',
			esc_attr( $frame ),
			esc_url( $src ),
			esc_attr__( 'Your rewards', 'sticky-for-woocommerce' )
		);
		// The widget reports its height so the frame fits it (only Sticky's origin is listened to).
		$origin = wp_parse_url( $connection['app_url'] );
		$origin = $origin['scheme'] . '://' . $origin['host'] . ( isset( $origin['port'] ) ? ':' . $origin['port'] : '' );
		wp_print_inline_script_tag(
			sprintf(
				'window.addEventListener("message",function(e){if(e.origin!==%1$s||!e.data||e.data.type!=="sticky-rewards:height")return;var f=document.getElementById(%2$s);if(f){f.style.height=Math.max(400,Math.min(6000,parseInt(e.data.height,10)||0))+"px";}});',
				wp_json_encode( $origin ),
				wp_json_encode( $frame )
			)
		);
	}
}
