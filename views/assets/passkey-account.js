// The account page's passkeys (views/account.eta): a first-party script, loaded from our own origin
// (the CSP allows no inline script). Without WebAuthn it hides the passkey buttons and says why;
// on the "Add a passkey" step it runs the browser's ceremony with @simplewebauthn/browser and posts
// the answer back with the page's ordinary form (CSRF token included). Words come from the page.
/* global window, document, navigator */
(function () {
  'use strict';

  /**
   * @simplewebauthn/browser: the global its UMD bundle sets (the layout loads it, deferred, before
   * this script: /assets/vendor/simplewebauthn-browser.js).
   */
  function library() {
    var webauthn = window.SimpleWebAuthnBrowser;
    if (webauthn && typeof webauthn.startRegistration === 'function') return Promise.resolve(webauthn);
    return Promise.reject(new Error('@simplewebauthn/browser did not load'));
  }

  function webAuthnAvailable() {
    return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials && typeof navigator.credentials.create === 'function';
  }

  /** Shows `text` in the element marked data-passkey-message inside `container`. */
  function say(container, text) {
    var element = container.querySelector('[data-passkey-message]');
    if (!element) return;
    element.textContent = text;
    element.hidden = !text;
  }

  function progress(container, text) {
    var element = container.querySelector('[data-passkey-progress]');
    if (!element) return;
    element.textContent = text;
    element.hidden = !text;
  }

  function disableForLackOfWebAuthn() {
    document.querySelectorAll('[data-passkey-needs-webauthn]').forEach(function (button) {
      button.disabled = true;
      button.hidden = true;
    });
    document.querySelectorAll('[data-word-unsupported]').forEach(function (container) {
      say(container, container.getAttribute('data-word-unsupported') || '');
    });
  }

  /** Why the ceremony ended without a passkey, in the page's words. */
  function explain(form, error) {
    var name = error && (error.name || '');
    var code = error && (error.code || '');
    if (code === 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED' || name === 'InvalidStateError') return form.getAttribute('data-word-already-registered');
    if (name === 'NotAllowedError' || name === 'AbortError' || code === 'ERROR_CEREMONY_ABORTED') return form.getAttribute('data-word-cancelled');
    return form.getAttribute('data-word-failed');
  }

  function addPasskey(form) {
    var options;
    try {
      options = JSON.parse(form.getAttribute('data-passkey-options') || '');
    } catch {
      say(form, form.getAttribute('data-word-failed') || '');
      return;
    }
    var response = form.querySelector('input[name=response]');
    var button = form.querySelector('button[type=submit]');
    var busy = false;
    form.addEventListener('submit', function (event) {
      // The answer is in: this is the script's own submit going through.
      if (response.value) return;
      event.preventDefault();
      if (busy) return;
      busy = true;
      button.disabled = true;
      say(form, '');
      progress(form, form.getAttribute('data-word-working') || '');
      library()
        .then(function (webauthn) {
          return webauthn.startRegistration({ optionsJSON: options });
        })
        .then(function (answer) {
          response.value = JSON.stringify(answer);
          form.submit();
        })
        .catch(function (error) {
          busy = false;
          button.disabled = false;
          progress(form, '');
          say(form, explain(form, error) || '');
        });
    });
  }

  function start() {
    if (!webAuthnAvailable()) {
      disableForLackOfWebAuthn();
      return;
    }
    var form = document.getElementById('passkey-add');
    if (form) addPasskey(form);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
