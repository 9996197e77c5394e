/**
 * Sticky for WooCommerce: send a guest's checkout email to the store ONLY when they tick the
 * consent box, so an unfinished cart can be followed up. Works on the classic checkout (the
 * checkbox is rendered by PHP) and the block checkout (the checkbox is added here, under the
 * contact email). Unticking withdraws consent and the store forgets the address.
 * No dependencies, no build step.
 */
(function () {
	'use strict';

	var config = window.stickyCheckout;
	if (!config || !window.fetch || !window.FormData) {
		return;
	}
	var EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
	var lastSent = null;

	function emailInput() {
		// Classic checkout: #billing_email. Block checkout: #email in the contact step.
		return document.getElementById('billing_email') || document.getElementById('email');
	}

	function consentBox() {
		return document.getElementById(config.consentField);
	}

	function source() {
		return document.querySelector('.wp-block-woocommerce-checkout') ? 'block' : 'classic';
	}

	function send() {
		var input = emailInput();
		var box = consentBox();
		if (!input || !box) {
			return;
		}
		var email = (input.value || '').trim();
		var consent = box.checked && EMAIL_PATTERN.test(email);
		var state = (consent ? '1:' : '0:') + (consent ? email : '');
		if (state === lastSent || (!consent && lastSent === null && !config.consented)) {
			return; // Nothing new, or nothing was ever shared.
		}
		lastSent = state;
		var body = new FormData();
		body.append('action', config.action);
		body.append('nonce', config.nonce);
		body.append('consent', consent ? '1' : '0');
		body.append('email', consent ? email : '');
		body.append('source', source());
		window.fetch(config.ajaxUrl, { method: 'POST', body: body, credentials: 'same-origin' })
			.catch(function () { lastSent = null; });
	}

	// Block checkout: add the checkbox under the email field, again if React re-renders it.
	function ensureBlockCheckbox() {
		if (consentBox() || !document.querySelector('.wp-block-woocommerce-checkout')) {
			return;
		}
		var input = document.getElementById('email');
		if (!input) {
			return;
		}
		var wrapper = document.createElement('div');
		wrapper.className = 'wc-block-components-checkbox sticky-email-consent';
		var label = document.createElement('label');
		label.setAttribute('for', config.consentField);
		var box = document.createElement('input');
		box.type = 'checkbox';
		box.id = config.consentField;
		box.className = 'wc-block-components-checkbox__input';
		box.checked = !!config.consented;
		var text = document.createElement('span');
		text.className = 'wc-block-components-checkbox__label';
		text.textContent = config.consentLabel; // textContent: the label is never parsed as HTML.
		label.appendChild(box);
		label.appendChild(text);
		wrapper.appendChild(label);
		var field = input.closest('.wc-block-components-text-input') || input.parentNode;
		field.parentNode.insertBefore(wrapper, field.nextSibling);
	}

	var timer = null;
	function later() {
		window.clearTimeout(timer);
		timer = window.setTimeout(send, 600);
	}

	document.addEventListener('change', function (event) {
		var id = event.target && event.target.id;
		if (id === config.consentField || id === 'billing_email' || id === 'email') {
			later();
		}
	});
	document.addEventListener('focusout', function (event) {
		var id = event.target && event.target.id;
		if (id === 'billing_email' || id === 'email') {
			later();
		}
	});

	if (window.MutationObserver) {
		new window.MutationObserver(ensureBlockCheckbox)
			.observe(document.body, { childList: true, subtree: true });
	}
	ensureBlockCheckbox();
})();
