<?php
/**
 * Plugin Name:       Sticky for WooCommerce
 * Plugin URI:        https://github.com/sticky-retention/sticky
 * Description:       Adds a Rewards page to My Account showing the customer's Sticky points, tier and rewards. Sends cart snapshots to Sticky through a WooCommerce webhook topic (sticky_cart.updated) so abandoned carts can be recovered, with a signed cart-rebuild link. Captures a guest's checkout email only when they tick the consent box.
 * Version:           1.0.0
 * Requires at least: 6.2
 * Requires PHP:      7.4
 * Requires Plugins:  woocommerce
 * Author:            Sticky
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       sticky-for-woocommerce
 * WC requires at least: 8.0
 * WC tested up to:   9.8
 *
 * @package Sticky_For_WooCommerce
 */

defined( 'ABSPATH' ) || exit;

define( 'STICKY_WC_VERSION', '1.0.0' );
define( 'STICKY_WC_FILE', __FILE__ );

require_once __DIR__ . '/includes/class-sticky-cart-store.php';
require_once __DIR__ . '/includes/class-sticky-embed-token.php';
require_once __DIR__ . '/includes/class-sticky-rewards-page.php';

/**
 * The plugin: cart snapshots, the custom webhook topic, consented email capture, rebuild links.
 *
 * Flow: a cart change marks the request "dirty"; once per request the cart is snapshotted into
 * {prefix}sticky_carts and the action `sticky_cart_updated` fires with the cart key. WooCommerce
 * webhooks subscribed to the topic `sticky_cart.updated` listen to that action, and build their
 * body through the `woocommerce_webhook_payload` filter from the stored snapshot (delivery is
 * usually in the background, where the shopper's session is not available).
 */
final class Sticky_For_WooCommerce {

	// The contract with Sticky (connectors/woocommerce/carts.py); a test keeps them equal.
	const TOPIC         = 'sticky_cart.updated';
	const RESOURCE      = 'sticky_cart';
	const EVENT         = 'updated';
	const CART_KEY_META = '_sticky_cart_key';

	// Internal names.
	const ACTION          = 'sticky_cart_updated';
	const SESSION_KEY     = 'sticky_cart_key';
	const SECRET_OPTION   = 'sticky_restore_secret';
	const AJAX_ACTION     = 'sticky_capture_email';
	const CONSENT_FIELD   = 'sticky_email_consent';
	const PURGE_HOOK      = 'sticky_purge_carts';
	const THROTTLE_SECONDS = 60;
	const RETENTION_DAYS   = 30;

	/**
	 * The single instance.
	 *
	 * @var Sticky_For_WooCommerce|null
	 */
	private static $instance = null;

	/**
	 * A snapshot is due at the end of this request; the value is its source.
	 *
	 * @var string|null
	 */
	private $pending_source = null;

	/**
	 * True while a rebuild link restores a cart: those changes are not new shopper activity.
	 *
	 * @var bool
	 */
	private $restoring = false;

	/**
	 * The instance, created on first use.
	 *
	 * @return Sticky_For_WooCommerce
	 */
	public static function instance() {
		if ( null === self::$instance ) {
			self::$instance = new self();
		}
		return self::$instance;
	}

	/**
	 * Hook everything. Nothing runs when WooCommerce is not active.
	 */
	private function __construct() {
		add_action( 'plugins_loaded', array( $this, 'boot' ) );
	}

	/**
	 * Register hooks once plugins are loaded.
	 */
	public function boot() {
		if ( ! class_exists( 'WooCommerce' ) ) {
			add_action( 'admin_notices', array( $this, 'notice_woocommerce_missing' ) );
			return;
		}
		Sticky_Cart_Store::maybe_upgrade();

		// The custom webhook topic.
		add_filter( 'woocommerce_valid_webhook_resources', array( $this, 'add_resource' ) );
		add_filter( 'woocommerce_valid_webhook_events', array( $this, 'add_event' ) );
		add_filter( 'woocommerce_webhook_topics', array( $this, 'add_topic' ) );
		add_filter( 'woocommerce_webhook_topic_hooks', array( $this, 'add_topic_hooks' ), 10, 2 );
		add_filter( 'woocommerce_webhook_payload', array( $this, 'build_payload' ), 10, 4 );

		// Cart changes, from the classic cart and from the Store API (block cart/checkout).
		add_action( 'woocommerce_add_to_cart', array( $this, 'cart_changed' ) );
		add_action( 'woocommerce_cart_item_removed', array( $this, 'cart_changed' ) );
		add_action( 'woocommerce_cart_item_restored', array( $this, 'cart_changed' ) );
		add_action( 'woocommerce_after_cart_item_quantity_update', array( $this, 'cart_changed' ) );
		add_action( 'woocommerce_applied_coupon', array( $this, 'cart_changed' ) );
		add_action( 'woocommerce_removed_coupon', array( $this, 'cart_changed' ) );
		add_action( 'woocommerce_cart_updated', array( $this, 'cart_changed' ) );
		add_action( 'woocommerce_cart_emptied', array( $this, 'cart_emptied' ) );
		add_action( 'woocommerce_store_api_cart_update_customer_from_request', array( $this, 'block_customer_updated' ), 10, 2 );
		// One snapshot per request, after WooCommerce has finished changing the cart.
		add_action( 'shutdown', array( $this, 'flush_snapshot' ), 5 );

		// The cart key on the order: classic checkout, then the block checkout.
		add_action( 'woocommerce_checkout_create_order', array( $this, 'tag_classic_order' ), 10, 1 );
		add_action( 'woocommerce_store_api_checkout_update_order_meta', array( $this, 'tag_block_order' ), 10, 1 );

		// Consented email capture.
		add_action( 'woocommerce_after_checkout_billing_form', array( $this, 'render_classic_consent' ) );
		add_action( 'wp_enqueue_scripts', array( $this, 'enqueue_checkout_script' ) );
		add_action( 'wp_ajax_' . self::AJAX_ACTION, array( $this, 'ajax_capture_email' ) );
		add_action( 'wp_ajax_nopriv_' . self::AJAX_ACTION, array( $this, 'ajax_capture_email' ) );

		// The rebuild link, once the cart and session exist.
		add_action( 'wp_loaded', array( $this, 'maybe_restore_cart' ), 30 );

		// My Account → Rewards: Sticky's rewards widget for the signed-in customer.
		Sticky_Rewards_Page::boot();

		// Retention and privacy.
		add_action( self::PURGE_HOOK, array( $this, 'purge' ) );
		add_filter( 'wp_privacy_personal_data_erasers', array( $this, 'register_eraser' ) );
	}

	/**
	 * Admin notice when WooCommerce is missing.
	 */
	public function notice_woocommerce_missing() {
		echo '<div class="notice notice-error"><p>' . esc_html__( 'Sticky for WooCommerce needs WooCommerce to be installed and active.', 'sticky-for-woocommerce' ) . '</p></div>';
	}

	// -- The webhook topic --------------------------------------------------------------

	/**
	 * Add the `sticky_cart` resource so wc_is_webhook_valid_topic() accepts the topic.
	 *
	 * @param array $resources Valid resources.
	 * @return array
	 */
	public function add_resource( $resources ) {
		$resources[] = self::RESOURCE;
		return array_values( array_unique( $resources ) );
	}

	/**
	 * Make sure the `updated` event is valid (it is in core; other plugins may filter it).
	 *
	 * @param array $events Valid events.
	 * @return array
	 */
	public function add_event( $events ) {
		$events[] = self::EVENT;
		return array_values( array_unique( $events ) );
	}

	/**
	 * Show the topic in WooCommerce → Settings → Advanced → Webhooks.
	 *
	 * @param array $topics Topic => label.
	 * @return array
	 */
	public function add_topic( $topics ) {
		$topics[ self::TOPIC ] = __( 'Sticky cart updated', 'sticky-for-woocommerce' );
		return $topics;
	}

	/**
	 * Map the topic to the action fired after each snapshot.
	 *
	 * @param array $topic_hooks Topic => hook names.
	 * @return array
	 */
	public function add_topic_hooks( $topic_hooks ) {
		$topic_hooks[ self::TOPIC ] = array( self::ACTION );
		return $topic_hooks;
	}

	/**
	 * Build the body of a `sticky_cart.updated` delivery from the stored snapshot.
	 *
	 * @param mixed  $payload     Payload so far (empty for custom resources).
	 * @param string $resource    Webhook resource.
	 * @param mixed  $resource_id The cart key passed to the action.
	 * @param int    $webhook_id  Webhook id.
	 * @return mixed
	 */
	public function build_payload( $payload, $resource, $resource_id, $webhook_id ) {
		unset( $webhook_id );
		if ( self::RESOURCE !== $resource ) {
			return $payload;
		}
		$cart_key = is_string( $resource_id ) ? $resource_id : '';
		$row      = '' === $cart_key ? null : Sticky_Cart_Store::get( $cart_key );
		if ( null === $row ) {
			// Purged or erased since the delivery was queued: say so without contents.
			$now = gmdate( 'Y-m-d\TH:i:s' );
			return array(
				'id'                => $cart_key,
				'customer_id'       => 0,
				'email'             => null,
				'email_consent'     => false,
				'currency'          => get_woocommerce_currency(),
				'subtotal'          => '0',
				'total'             => '0',
				'items'             => array(),
				'recovery_url'      => null,
				'source'            => 'classic',
				'status'            => 'emptied',
				'date_created_gmt'  => $now,
				'date_modified_gmt' => $now,
			);
		}
		return $this->payload_from_row( $row );
	}

	/**
	 * The contract's body for one stored snapshot.
	 *
	 * @param array $row Snapshot row.
	 * @return array
	 */
	private function payload_from_row( array $row ) {
		$user_id = (int) $row['user_id'];
		$consent = (bool) $row['email_consent'];
		$items   = array();
		foreach ( $row['items'] as $item ) {
			$items[] = array(
				'key'          => (string) $item['key'],
				'product_id'   => (int) $item['product_id'],
				'variation_id' => (int) $item['variation_id'],
				'sku'          => (string) $item['sku'],
				'name'         => (string) $item['name'],
				'quantity'     => (int) $item['quantity'],
				'price'        => (string) $item['price'],
				'line_total'   => (string) $item['line_total'],
			);
		}
		return array(
			'id'                => $row['cart_key'],
			'customer_id'       => $user_id,
			// A guest's address leaves the store only with consent.
			'email'             => ( $consent || $user_id ) && $row['email'] ? $row['email'] : null,
			'email_consent'     => $consent,
			'currency'          => $row['currency'],
			'subtotal'          => $row['subtotal'],
			'total'             => $row['total'],
			'items'             => $items,
			'recovery_url'      => 'open' === $row['status'] ? $this->recovery_url( $row['cart_key'] ) : null,
			'source'            => $row['source'],
			'status'            => 'emptied' === $row['status'] ? 'emptied' : 'open',
			'date_created_gmt'  => $this->iso( $row['created_gmt'] ),
			'date_modified_gmt' => $this->iso( $row['modified_gmt'] ),
		);
	}

	/**
	 * MySQL UTC datetime → ISO 8601 without offset (WooCommerce's *_gmt style).
	 *
	 * @param string $mysql_gmt Datetime.
	 * @return string
	 */
	private function iso( $mysql_gmt ) {
		return str_replace( ' ', 'T', (string) $mysql_gmt );
	}

	// -- Snapshots ----------------------------------------------------------------------

	/**
	 * Which checkout produced the current request: Store API requests come from blocks.
	 *
	 * @return string
	 */
	private function current_source() {
		$uri = isset( $_SERVER['REQUEST_URI'] ) ? sanitize_text_field( wp_unslash( $_SERVER['REQUEST_URI'] ) ) : '';
		$is_store_api = ( defined( 'REST_REQUEST' ) && REST_REQUEST && false !== strpos( $uri, '/wc/store/' ) )
			|| false !== strpos( $uri, 'rest_route=/wc/store/' );
		return $is_store_api ? 'block' : 'classic';
	}

	/**
	 * The cart key for this shopper's session, created on first use.
	 *
	 * @param bool $create Create one when missing.
	 * @return string
	 */
	private function cart_key( $create = true ) {
		if ( ! function_exists( 'WC' ) || ! WC()->session ) {
			return '';
		}
		$key = WC()->session->get( self::SESSION_KEY );
		if ( ( ! is_string( $key ) || '' === $key ) && $create ) {
			$key = 'c_' . bin2hex( random_bytes( 16 ) );
			WC()->session->set( self::SESSION_KEY, $key );
		}
		return is_string( $key ) ? $key : '';
	}

	/**
	 * Any cart change: snapshot at the end of the request.
	 */
	public function cart_changed() {
		if ( $this->restoring ) {
			return;
		}
		$this->pending_source = $this->current_source();
	}

	/**
	 * The block checkout sent the shopper's address: the snapshot may now carry consent.
	 *
	 * @param WC_Customer     $customer Customer.
	 * @param WP_REST_Request $request  Store API request.
	 */
	public function block_customer_updated( $customer, $request ) {
		unset( $customer, $request );
		$this->pending_source = 'block';
	}

	/**
	 * The cart was emptied: by the shopper (send "emptied"), or because an order was placed
	 * (the order converts the cart; start a new key for the next cart).
	 */
	public function cart_emptied() {
		if ( $this->restoring || did_action( 'wp_logout' ) ) {
			return; // A logged-in shopper's persistent cart survives logout.
		}
		$key = $this->cart_key( false );
		if ( '' === $key ) {
			return;
		}
		$row = Sticky_Cart_Store::get( $key );
		if ( null !== $row && (int) $row['order_id'] > 0 ) {
			WC()->session->set( self::SESSION_KEY, null );
			$this->pending_source = null;
			return;
		}
		if ( null !== $row && 'open' === $row['status'] ) {
			$this->snapshot( $key, $this->current_source(), 'emptied', true );
		}
		$this->pending_source = null;
	}

	/**
	 * At shutdown: take the snapshot a cart change asked for.
	 */
	public function flush_snapshot() {
		if ( null === $this->pending_source || ! function_exists( 'WC' ) || ! WC()->cart ) {
			return;
		}
		$source               = $this->pending_source;
		$this->pending_source = null;
		if ( WC()->cart->is_empty() ) {
			return; // Emptying is handled by cart_emptied(); an untouched empty cart is noise.
		}
		$this->snapshot( $this->cart_key(), $source, 'open', false );
	}

	/**
	 * Store the current cart and fire the webhook action when something worth sending changed.
	 *
	 * Throttle: a change of items is sent at once; other changes (recomputed totals, the
	 * email) at most once per THROTTLE_SECONDS per cart, unless $force.
	 *
	 * @param string $key    Cart key.
	 * @param string $source "classic" or "block".
	 * @param string $status "open" or "emptied".
	 * @param bool   $force  Send even inside the throttle window.
	 */
	private function snapshot( $key, $source, $status, $force ) {
		if ( '' === $key ) {
			return;
		}
		$previous = Sticky_Cart_Store::get( $key );
		$items    = 'emptied' === $status ? array() : $this->cart_items();
		$user_id  = get_current_user_id();
		$email    = $previous ? $previous['email'] : null;
		$consent  = $previous ? (int) $previous['email_consent'] : 0;
		if ( $user_id ) {
			$user  = wp_get_current_user();
			$email = $user->user_email ? $user->user_email : $email;
		}
		$cart     = WC()->cart;
		$decimals = wc_get_price_decimals();
		$subtotal = 'emptied' === $status ? '0' : wc_format_decimal( $cart->get_subtotal(), $decimals );
		$total    = 'emptied' === $status ? '0' : wc_format_decimal( $cart->get_total( 'edit' ), $decimals );

		$items_hash = md5( wp_json_encode( array( $status, $items ) ) );
		$state_hash = md5( wp_json_encode( array( $items_hash, $subtotal, $total, $email, $consent, $user_id ) ) );
		$now        = time();
		if ( $previous ) {
			if ( $previous['state_hash'] === $state_hash ) {
				return; // Nothing new to say.
			}
			$last_sent = $previous['sent_gmt'] ? strtotime( $previous['sent_gmt'] . ' UTC' ) : 0;
			if ( ! $force && $previous['items_hash'] === $items_hash && $now - $last_sent < self::THROTTLE_SECONDS ) {
				return; // Throttled; the next change (or visit) sends the latest state.
			}
			// Strictly increasing per cart: Sticky orders snapshots and dedups by this time.
			$last_modified = strtotime( $previous['modified_gmt'] . ' UTC' );
			$now           = max( $now, $last_modified + 1 );
		}
		$stamp = gmdate( 'Y-m-d H:i:s', $now );
		Sticky_Cart_Store::save(
			array(
				'cart_key'      => $key,
				'user_id'       => $user_id,
				'email'         => $email,
				'email_consent' => $consent,
				'currency'      => get_woocommerce_currency(),
				'subtotal'      => $subtotal,
				'total'         => $total,
				'items'         => $items,
				'items_hash'    => $items_hash,
				'state_hash'    => $state_hash,
				'source'        => $source,
				'status'        => $status,
				'order_id'      => $previous ? (int) $previous['order_id'] : 0,
				'created_gmt'   => $previous ? $previous['created_gmt'] : $stamp,
				'modified_gmt'  => $stamp,
				'sent_gmt'      => $stamp,
			)
		);
		/**
		 * A cart snapshot was stored: WooCommerce webhooks on `sticky_cart.updated` deliver it.
		 *
		 * @param string $key Cart key.
		 */
		do_action( self::ACTION, $key );
	}

	/**
	 * The cart's lines, with what a rebuild needs (product, variation, attributes, quantity).
	 *
	 * @return array
	 */
	private function cart_items() {
		$decimals = wc_get_price_decimals();
		$items    = array();
		foreach ( WC()->cart->get_cart() as $item_key => $item ) {
			$product = isset( $item['data'] ) ? $item['data'] : null;
			if ( ! $product instanceof WC_Product ) {
				continue;
			}
			$items[] = array(
				'key'          => (string) $item_key,
				'product_id'   => (int) $item['product_id'],
				'variation_id' => (int) $item['variation_id'],
				'variation'    => isset( $item['variation'] ) && is_array( $item['variation'] ) ? $item['variation'] : array(),
				'sku'          => (string) $product->get_sku(),
				'name'         => wp_strip_all_tags( $product->get_name() ),
				'quantity'     => (int) $item['quantity'],
				'price'        => wc_format_decimal( $product->get_price( 'edit' ), $decimals ),
				'line_total'   => wc_format_decimal( isset( $item['line_total'] ) ? $item['line_total'] : 0, $decimals ),
			);
		}
		return $items;
	}

	// -- The cart key on the order ------------------------------------------------------

	/**
	 * Classic checkout: the order is saved by WooCommerce right after this hook.
	 *
	 * @param WC_Order $order Order being created.
	 */
	public function tag_classic_order( $order ) {
		$this->tag_order( $order, false );
	}

	/**
	 * Block checkout: the (draft) order already exists, so save the meta ourselves.
	 *
	 * @param WC_Order $order Draft order.
	 */
	public function tag_block_order( $order ) {
		$this->tag_order( $order, true );
	}

	/**
	 * Write `_sticky_cart_key` on the order and remember the order on the snapshot.
	 *
	 * @param WC_Order $order Order.
	 * @param bool     $save  Save the meta now.
	 */
	private function tag_order( $order, $save ) {
		if ( ! $order instanceof WC_Order ) {
			return;
		}
		$key = $this->cart_key( false );
		if ( '' === $key ) {
			return;
		}
		$order->update_meta_data( self::CART_KEY_META, $key );
		if ( $save && $order->get_id() ) {
			$order->save_meta_data();
		}
		if ( $order->get_id() && null !== Sticky_Cart_Store::get( $key ) ) {
			Sticky_Cart_Store::update( $key, array( 'order_id' => $order->get_id() ) );
		}
	}

	// -- Consented email capture --------------------------------------------------------

	/**
	 * The consent checkbox under the classic checkout's billing fields (guests only).
	 *
	 * @param WC_Checkout $checkout Checkout.
	 */
	public function render_classic_consent( $checkout ) {
		unset( $checkout );
		if ( is_user_logged_in() ) {
			return;
		}
		woocommerce_form_field(
			self::CONSENT_FIELD,
			array(
				'type'     => 'checkbox',
				'class'    => array( 'form-row-wide' ),
				'label'    => esc_html( $this->consent_label() ),
				'required' => false,
			),
			$this->stored_consent() ? 1 : 0
		);
	}

	/**
	 * The consent wording, filterable so the merchant can match their privacy policy.
	 *
	 * @return string
	 */
	private function consent_label() {
		return (string) apply_filters(
			'sticky_email_consent_label',
			__( 'Email me a reminder with a link back to my cart if I don’t finish checking out.', 'sticky-for-woocommerce' )
		);
	}

	/**
	 * Whether this session's snapshot already holds consent.
	 *
	 * @return bool
	 */
	private function stored_consent() {
		$key = $this->cart_key( false );
		$row = '' === $key ? null : Sticky_Cart_Store::get( $key );
		return $row && (int) $row['email_consent'];
	}

	/**
	 * Load the small script on checkout pages (classic and block) for guests.
	 */
	public function enqueue_checkout_script() {
		if ( is_user_logged_in() || ! function_exists( 'is_checkout' ) || ! is_checkout() ) {
			return;
		}
		wp_enqueue_script(
			'sticky-checkout',
			plugins_url( 'assets/sticky-checkout.js', STICKY_WC_FILE ),
			array(),
			STICKY_WC_VERSION,
			true
		);
		wp_localize_script(
			'sticky-checkout',
			'stickyCheckout',
			array(
				'ajaxUrl'      => admin_url( 'admin-ajax.php' ),
				'action'       => self::AJAX_ACTION,
				'nonce'        => wp_create_nonce( self::AJAX_ACTION ),
				'consentField' => self::CONSENT_FIELD,
				'consentLabel' => $this->consent_label(),
				'consented'    => $this->stored_consent(),
			)
		);
	}

	/**
	 * admin-ajax: store (consent ticked) or forget (consent withdrawn) the guest's email.
	 */
	public function ajax_capture_email() {
		if ( ! check_ajax_referer( self::AJAX_ACTION, 'nonce', false ) ) {
			wp_send_json_error( array( 'message' => 'invalid nonce' ), 403 );
		}
		$consent = isset( $_POST['consent'] ) && '1' === sanitize_text_field( wp_unslash( $_POST['consent'] ) );
		$email   = isset( $_POST['email'] ) ? sanitize_email( wp_unslash( $_POST['email'] ) ) : '';
		$source  = isset( $_POST['source'] ) && 'block' === sanitize_key( wp_unslash( $_POST['source'] ) ) ? 'block' : 'classic';
		if ( $consent && ! is_email( $email ) ) {
			wp_send_json_error( array( 'message' => 'invalid email' ), 400 );
		}
		if ( ! WC()->cart || WC()->cart->is_empty() ) {
			wp_send_json_success( array( 'stored' => false ) );
		}
		$key      = $this->cart_key();
		$previous = Sticky_Cart_Store::get( $key );
		if ( null === $previous ) {
			$this->snapshot( $key, $source, 'open', true );
		}
		// Withdrawn consent forgets the address, not only the flag.
		Sticky_Cart_Store::update(
			$key,
			array(
				'email'         => $consent ? $email : null,
				'email_consent' => $consent ? 1 : 0,
				'state_hash'    => '',
			)
		);
		$this->snapshot( $key, $source, 'open', true );
		wp_send_json_success( array( 'stored' => $consent ) );
	}

	// -- The rebuild link ---------------------------------------------------------------

	/**
	 * The per-site secret that signs rebuild links, created on first use.
	 *
	 * @return string
	 */
	private function secret() {
		$secret = get_option( self::SECRET_OPTION );
		if ( ! is_string( $secret ) || strlen( $secret ) < 32 ) {
			$secret = bin2hex( random_bytes( 32 ) );
			update_option( self::SECRET_OPTION, $secret, false );
		}
		return $secret;
	}

	/**
	 * HMAC-SHA256 of the cart key with the site secret.
	 *
	 * @param string $key Cart key.
	 * @return string
	 */
	private function signature( $key ) {
		return hash_hmac( 'sha256', $key, $this->secret() );
	}

	/**
	 * The signed link that rebuilds this cart in any browser.
	 *
	 * @param string $key Cart key.
	 * @return string
	 */
	public function recovery_url( $key ) {
		return add_query_arg(
			array(
				'sticky_restore' => rawurlencode( $key ),
				'sig'            => $this->signature( $key ),
			),
			home_url( '/' )
		);
	}

	/**
	 * `?sticky_restore=<key>&sig=<hmac>`: put the saved items back into the cart, continue
	 * the same cart key (so the order converts it), prefill a consented email, go to checkout.
	 */
	public function maybe_restore_cart() {
		// phpcs:disable WordPress.Security.NonceVerification.Recommended -- the HMAC is the check.
		if ( ! isset( $_GET['sticky_restore'], $_GET['sig'] ) || ! WC()->cart || ! WC()->session ) {
			return;
		}
		$key = sanitize_text_field( wp_unslash( $_GET['sticky_restore'] ) );
		$sig = sanitize_text_field( wp_unslash( $_GET['sig'] ) );
		// phpcs:enable
		$row = null;
		if ( '' !== $key && hash_equals( $this->signature( $key ), $sig ) ) {
			$row = Sticky_Cart_Store::get( $key );
		}
		if ( null === $row || empty( $row['items'] ) || $this->is_paid( (int) $row['order_id'] ) ) {
			wc_add_notice( __( 'That cart link has expired or was already used. Your current cart is shown instead.', 'sticky-for-woocommerce' ), 'notice' );
			wp_safe_redirect( wc_get_cart_url() );
			exit;
		}

		$this->restoring = true;
		WC()->session->set_customer_session_cookie( true );
		WC()->cart->empty_cart( false );
		foreach ( $row['items'] as $item ) {
			$variation = isset( $item['variation'] ) && is_array( $item['variation'] ) ? array_map( 'sanitize_text_field', $item['variation'] ) : array();
			WC()->cart->add_to_cart( absint( $item['product_id'] ), max( 1, absint( $item['quantity'] ) ), absint( $item['variation_id'] ), $variation );
		}
		WC()->session->set( self::SESSION_KEY, $key );
		if ( (int) $row['email_consent'] && is_email( $row['email'] ) && WC()->customer ) {
			WC()->customer->set_billing_email( $row['email'] );
			WC()->customer->save();
		}
		$this->restoring = false;

		wc_add_notice( __( 'Welcome back! Your cart has been restored.', 'sticky-for-woocommerce' ), 'success' );
		wp_safe_redirect( wc_get_checkout_url() );
		exit;
	}

	/**
	 * Whether the order placed from a cart has been paid (an unpaid one can still be retried).
	 *
	 * @param int $order_id Order id, 0 for none.
	 * @return bool
	 */
	private function is_paid( $order_id ) {
		$order = $order_id > 0 ? wc_get_order( $order_id ) : false;
		return $order instanceof WC_Order && $order->is_paid();
	}

	// -- Retention, privacy, lifecycle --------------------------------------------------

	/**
	 * Daily: forget snapshots untouched for RETENTION_DAYS.
	 */
	public function purge() {
		Sticky_Cart_Store::purge_older_than( (int) apply_filters( 'sticky_cart_retention_days', self::RETENTION_DAYS ) );
	}

	/**
	 * Register the eraser for Tools → Erase Personal Data.
	 *
	 * @param array $erasers Erasers.
	 * @return array
	 */
	public function register_eraser( $erasers ) {
		$erasers['sticky-for-woocommerce'] = array(
			'eraser_friendly_name' => __( 'Sticky cart snapshots', 'sticky-for-woocommerce' ),
			'callback'             => array( $this, 'erase_personal_data' ),
		);
		return $erasers;
	}

	/**
	 * Erase an email address from cart snapshots.
	 *
	 * @param string $email Email address.
	 * @return array
	 */
	public function erase_personal_data( $email ) {
		$removed = Sticky_Cart_Store::erase_email( sanitize_email( $email ) ) > 0;
		return array(
			'items_removed'  => $removed,
			'items_retained' => false,
			'messages'       => array(),
			'done'           => true,
		);
	}

	/**
	 * Activation: create the table, the secret and the daily purge.
	 */
	public static function activate() {
		Sticky_Cart_Store::install();
		if ( ! get_option( self::SECRET_OPTION ) ) {
			add_option( self::SECRET_OPTION, bin2hex( random_bytes( 32 ) ), '', false );
		}
		if ( ! wp_next_scheduled( self::PURGE_HOOK ) ) {
			wp_schedule_event( time() + HOUR_IN_SECONDS, 'daily', self::PURGE_HOOK );
		}
		// The Rewards endpoint needs its rewrite rule.
		Sticky_Rewards_Page::add_endpoint();
		flush_rewrite_rules();
	}

	/**
	 * Deactivation: stop the purge (data stays until uninstall).
	 */
	public static function deactivate() {
		wp_clear_scheduled_hook( self::PURGE_HOOK );
		flush_rewrite_rules();
	}
}

register_activation_hook( __FILE__, array( 'Sticky_For_WooCommerce', 'activate' ) );
register_deactivation_hook( __FILE__, array( 'Sticky_For_WooCommerce', 'deactivate' ) );

// Declare HPOS compatibility: the plugin reads and writes orders only through WC_Order.
add_action(
	'before_woocommerce_init',
	function () {
		if ( class_exists( '\Automattic\WooCommerce\Utilities\FeaturesUtil' ) ) {
			\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'custom_order_tables', STICKY_WC_FILE, true );
			\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'cart_checkout_blocks', STICKY_WC_FILE, true );
		}
	}
);

Sticky_For_WooCommerce::instance();
