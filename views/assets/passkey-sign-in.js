/*
 * Passkeys on the sign-in pages (the login page, the second step, a new account's passkey).
 * Plain browser JavaScript, no build step; served from Gatehouse's own origin (CSP script-src 'self').
 *
 * Progressive: everything passkey-related is hidden in the HTML. Where the browser has WebAuthn,
 * this shows it (`[data-passkey-supported]`, the ceremony forms); where it has not, it shows the
 * explanation (`[data-passkey-unsupported]`); without JavaScript the pages work as they always did.
 *
 * A ceremony form (views/partials/passkey-ceremony.eta) carries its options as JSON in
 * data-options and its words in data- attributes. Its button runs the ceremony with
 * @simplewebauthn/browser (the global SimpleWebAuthnBrowser, loaded before this file); the answer
 * goes back in the form's `response` field, posted like any other form with its CSRF token. With
 * data-autofill="on" (the login page), passkey autofill starts on load in the field marked
 * autocomplete="username webauthn".
 */
/* global window, document */
(function () {
  'use strict';

  var library = window.SimpleWebAuthnBrowser;
  var supported = typeof window.PublicKeyCredential === 'function' && (!library || library.browserSupportsWebAuthn());

  function each(selector, action) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), action);
  }

  each(supported ? '[data-passkey-supported]' : '[data-passkey-unsupported]', function (element) {
    element.hidden = false;
  });
  if (!supported || !library) return;

  function show(form, text) {
    var box = form.querySelector('[data-passkey-message]');
    if (!box || !text) return;
    box.textContent = text;
    box.hidden = false;
  }

  function hide(form) {
    var box = form.querySelector('[data-passkey-message]');
    if (box) box.hidden = true;
  }

  function ceremony(form, options, autofill) {
    if (form.getAttribute('data-passkey-ceremony') === 'register') {
      return library.startRegistration({ optionsJSON: options });
    }
    return library.startAuthentication({ optionsJSON: options, useBrowserAutofill: autofill });
  }

  function run(form, options, autofill) {
    var button = form.querySelector('button[type=submit]');
    if (!autofill) {
      hide(form);
      if (button) button.disabled = true;
    }
    ceremony(form, options, autofill).then(function (answer) {
      form.elements.namedItem('response').value = JSON.stringify(answer);
      form.submit();
    }, function (error) {
      // Autofill ends quietly: the person chose no passkey, or pressed the button (which cancels it).
      if (autofill) return;
      if (button) button.disabled = false;
      var name = error && error.name;
      var cancelled = name === 'NotAllowedError' || name === 'AbortError';
      show(form, form.getAttribute(cancelled ? 'data-cancelled' : 'data-failed'));
    });
  }

  each('form[data-passkey-ceremony]', function (form) {
    var options;
    try {
      options = JSON.parse(form.getAttribute('data-options'));
    } catch {
      return;
    }
    form.hidden = false;
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      run(form, options, false);
    });
    if (form.getAttribute('data-autofill') === 'on' && typeof library.browserSupportsWebAuthnAutofill === 'function') {
      library.browserSupportsWebAuthnAutofill().then(function (available) {
        if (available && document.querySelector('input[autocomplete~="webauthn"]')) run(form, options, true);
      }, function () {});
    }
  });
})();
