<?php
/**
 * Embed tokens: what lets Sticky show a signed-in customer their rewards in a frame.
 *
 * The contract with Sticky (app/loyalty/embed.py), kept free of WordPress functions so it can
 * be checked on its own:
 *
 *   token   = "v1." . payload . "." . signature
 *   payload = base64url, no padding, of {"store": <Sticky store id>, "user": "<WP user id>", "exp": <unix seconds>}
 *   key     = hex HMAC-SHA256( "sticky-embed-token-v1", key: the sticky_cart.updated webhook's secret )
 *   signature = hex HMAC-SHA256( "v1." . payload, key )
 *
 * @package Sticky_For_WooCommerce
 */

defined( 'ABSPATH' ) || exit;

/**
 * Mints embed tokens.
 */
final class Sticky_Embed_Token {

	const VERSION     = 'v1';
	const KEY_CONTEXT = 'sticky-embed-token-v1';
	const TTL_SECONDS = 600;

	/**
	 * The embed key derived from the shared webhook secret (a signing secret is not reused as is).
	 *
	 * @param string $webhook_secret The secret Sticky gave the sticky_cart.updated webhook.
	 * @return string
	 */
	public static function key( $webhook_secret ) {
		return hash_hmac( 'sha256', self::KEY_CONTEXT, (string) $webhook_secret );
	}

	/**
	 * A token naming the store and the WordPress user, valid for $ttl seconds from $now.
	 *
	 * @param string $webhook_secret Shared secret.
	 * @param int    $store_id       Sticky's id for this store.
	 * @param int    $user_id        The signed-in WordPress user.
	 * @param int    $now            Unix time.
	 * @param int    $ttl            Lifetime in seconds.
	 * @return string
	 */
	public static function mint( $webhook_secret, $store_id, $user_id, $now, $ttl = self::TTL_SECONDS ) {
		$claims  = array(
			'store' => (int) $store_id,
			'user'  => (string) (int) $user_id,
			'exp'   => (int) $now + (int) $ttl,
		);
		$json    = (string) json_encode( $claims );
		$payload = rtrim( strtr( base64_encode( $json ), '+/', '-_' ), '=' );
		$signed  = self::VERSION . '.' . $payload;
		return $signed . '.' . hash_hmac( 'sha256', $signed, self::key( $webhook_secret ) );
	}
}
