/**
 * The OpenID Foundation's OP test plans, module by module, as this suite runs them: the one list
 * that the plan test files iterate over and that docs/conformance.md's table is generated from (a
 * test fails when the table and this list disagree). Module names and plan contents are those of
 * the OpenID Foundation's conformance suite (net.openid.conformance.openid.*TestPlan).
 */

export const plans = [
  'oidcc-basic-certification-test-plan',
  'oidcc-config-certification-test-plan',
  'oidcc-formpost-basic-certification-test-plan',
  'oidcc-rp-initiated-logout-certification-test-plan',
] as const;

export type Plan = (typeof plans)[number];

type Entry = {
  /** The module's testName in the conformance suite. */
  name: string;
  /** What the module (and so its test here) checks, in a few words: the test's title after the name. */
  checks: string;
} & (
  | { status: 'tested' }
  /**
   * Does not apply to Gatehouse. `reason` says why; the module's own "rejected as unsupported" path,
   * where it has one, is still tested (and `checks` says what).
   */
  | { status: 'not-applicable'; reason: string }
);

export type ConformanceModule = Entry & { plan: Plan };

const tested = (name: string, checks: string): Entry => ({ name, checks, status: 'tested' });
const notApplicable = (name: string, reason: string, checks: string): Entry => ({ name, checks, status: 'not-applicable', reason });

const requestObjectsUnsupported = 'Gatehouse does not accept request objects (request_parameter_supported and request_uri_parameter_supported are false); the module skips itself on that answer';

/**
 * oidcc-basic-certification-test-plan, in the plan's order (response_type code,
 * client_secret_basic, except oidcc-server-client-secret-post). The plan's modules send no PKCE:
 * they run with confidential clients registered pkce_exempt, except the PKCE module itself.
 */
const basic: Entry[] = [
  tested('oidcc-server', 'a happy code flow: callback, code length, ID token (signature, iss, aud, nonce, no non-requested claims), userinfo'),
  tested('oidcc-response-type-missing', 'no response_type: an invalid_request or unsupported_response_type error at the client, or an error page'),
  tested('oidcc-idtoken-signature', 'a client registered without an algorithm gets RS256 ID tokens with a kid (the suite runs it with dynamically registered clients; here an operator\'s client)'),
  notApplicable('oidcc-idtoken-unsigned', 'Gatehouse never issues unsigned ID tokens; "none" is not in id_token_signing_alg_values_supported, so the module skips itself', 'discovery does not offer "none" for ID tokens'),
  tested('oidcc-userinfo-get', 'userinfo by GET with a bearer header: 200 JSON, sub as in the ID token'),
  tested('oidcc-userinfo-post-header', 'userinfo by POST with a bearer header: 200 JSON, sub as in the ID token'),
  tested('oidcc-userinfo-post-body', 'userinfo by POST with the access token in the body: 200 JSON, sub as in the ID token'),
  tested('oidcc-ensure-request-without-nonce-succeeds-for-code-flow', 'no nonce in a code flow: a code and tokens, and no nonce in the ID token'),
  tested('oidcc-scope-profile', 'scope profile: every profile claim in userinfo'),
  tested('oidcc-scope-email', 'scope email: email and email_verified in userinfo'),
  tested('oidcc-scope-address', 'scope address: the address claim in userinfo'),
  tested('oidcc-scope-phone', 'scope phone: phone_number and phone_number_verified in userinfo'),
  tested('oidcc-scope-all', 'scopes address, email, phone and profile together: all their claims in userinfo'),
  tested('oidcc-alternate-happy-flow', 'scope and query parameters in another order: the same result'),
  tested('oidcc-display-page', 'display=page: the normal login page, and the flow succeeds'),
  tested('oidcc-display-popup', 'display=popup: no error, and the flow succeeds'),
  tested('oidcc-prompt-login', 'prompt=login with a session: the login page again, and a later auth_time'),
  tested('oidcc-prompt-none-not-logged-in', 'prompt=none without a session: login_required at the client, a 128-character state intact'),
  tested('oidcc-prompt-none-logged-in', 'prompt=none with a session: a code without a page, the same sub and auth_time'),
  tested('oidcc-max-age-1', 'max_age=1 two seconds after a login: the login page again, auth_time present, later and recent'),
  tested('oidcc-max-age-10000', 'max_age=10000 after a login with max_age=15000: no login page, auth_time present and unchanged'),
  tested('oidcc-ensure-request-with-unknown-parameter-succeeds', 'an unknown parameter (extra=foobar) is ignored'),
  tested('oidcc-id-token-hint', 'prompt=none with the first ID token as id_token_hint: a code without a page, the same sub'),
  tested('oidcc-login-hint', 'login_hint: no error, the login page offers the hinted address'),
  tested('oidcc-ui-locales', 'ui_locales=se: no error'),
  tested('oidcc-claims-locales', 'claims_locales=se: no error'),
  tested('oidcc-ensure-request-with-acr-values-succeeds', 'acr_values with every advertised value: success, and an acr among them (Gatehouse asks for the strongest named, a passkey)'),
  tested('oidcc-codereuse', 'a code used twice at once: 400 invalid_grant, JSON'),
  tested('oidcc-codereuse-30seconds', 'a code used again 30 seconds later: 400 invalid_grant, and the first access token revoked'),
  tested('oidcc-ensure-registered-redirect-uri', 'an unregistered redirect_uri: an error page, never a redirect to it or to the registered one'),
  tested('oidcc-ensure-post-request-succeeds', 'the authorization request as a form POST: answered 303 to the same request by GET, and the flow succeeds; a POST that is not form-encoded gets a 400 page'),
  tested('oidcc-server-client-secret-post', 'the happy flow with a client_secret_post client'),
  notApplicable('oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported', `${requestObjectsUnsupported}; the conformance suite also runs it with dynamically registered clients only`, 'an unsigned request_uri: request_uri_not_supported at the client'),
  notApplicable('oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported', requestObjectsUnsupported, 'an unsigned request object: request_not_supported at the client'),
  tested('oidcc-claims-essential', 'claims={"userinfo":{"name":{"essential":true}}} with scope openid: name in userinfo, not in the ID token'),
  notApplicable('oidcc-ensure-request-object-with-redirect-uri', requestObjectsUnsupported, 'a request object with an unregistered redirect_uri outside it: an error page, no redirect to the registered one'),
  tested('oidcc-refresh-token', 'offline_access with prompt=consent: a refresh token that works for its client only (another client gets invalid_grant)'),
  tested('oidcc-ensure-request-with-valid-pkce-succeeds', 'S256 PKCE with the code_verifier at the token endpoint: success'),
];

/** oidcc-formpost-basic-certification-test-plan: the same modules with response_mode=form_post. */
const formPost: Entry[] = basic.map((entry) => ({
  ...entry,
  checks: `response_mode=form_post: ${entry.checks}`,
}));

/** oidcc-config-certification-test-plan (discovery, static client). */
const config: Entry[] = [
  tested('oidcc-discovery-endpoint-verification', 'the discovery document: 200 JSON, issuer, required metadata, https endpoints, a valid JWKS with kids'),
];

/** oidcc-rp-initiated-logout-certification-test-plan (discovery, client_secret_basic). */
const logout: Entry[] = [
  tested('oidcc-rp-initiated-logout-discovery-endpoint-verification', 'end_session_endpoint in discovery, every endpoint https'),
  tested('oidcc-rp-initiated-logout', 'logout with id_token_hint, post_logout_redirect_uri and state: back to the client with the state, then prompt=none gets login_required'),
  tested('oidcc-rp-initiated-logout-bad-post-logout-redirect-uri', 'an unregistered post_logout_redirect_uri: never redirected to'),
  tested('oidcc-rp-initiated-logout-modified-id-token-hint', 'an id_token_hint changed to alg none: never redirected to the post_logout_redirect_uri'),
  tested('oidcc-rp-initiated-logout-no-id-token-hint', 'a post_logout_redirect_uri without id_token_hint: the person is asked, signed out, and never redirected to it'),
  tested('oidcc-rp-initiated-logout-no-params', 'no parameters: the person is logged out and sees the logged-out page'),
  tested('oidcc-rp-initiated-logout-no-post-logout-redirect-uri', 'id_token_hint without post_logout_redirect_uri: logged out, the logged-out page'),
  tested('oidcc-rp-initiated-logout-no-state', 'no state: back to the client with no state, then prompt=none gets login_required'),
  tested('oidcc-rp-initiated-logout-only-state', 'only a state: logged out, the logged-out page, no redirect'),
  tested('oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri', 'the registered post_logout_redirect_uri with ?foo=bar added: never redirected to'),
  tested('oidcc-rp-initiated-logout-bad-id-token-hint', 'an id_token_hint signed by someone else: never redirected to the post_logout_redirect_uri'),
];

export const conformanceModules: ConformanceModule[] = [
  ...basic.map((entry) => ({ ...entry, plan: 'oidcc-basic-certification-test-plan' as const })),
  ...config.map((entry) => ({ ...entry, plan: 'oidcc-config-certification-test-plan' as const })),
  ...formPost.map((entry) => ({ ...entry, plan: 'oidcc-formpost-basic-certification-test-plan' as const })),
  ...logout.map((entry) => ({ ...entry, plan: 'oidcc-rp-initiated-logout-certification-test-plan' as const })),
];

export function modulesOf(plan: Plan): ConformanceModule[] {
  return conformanceModules.filter((module) => module.plan === plan);
}

/** The test's title: the module's name, then what it checks. */
export function titleOf(module: ConformanceModule): string {
  return `${module.name}: ${module.checks}`;
}

const cell = (text: string) => text.replaceAll('|', '\\|');

/** docs/conformance.md's table, between its markers: one section per plan, one row per module. */
export function conformanceTable(): string {
  const sections = plans.map((plan) => {
    const modules = modulesOf(plan);
    const count = (status: ConformanceModule['status']) => modules.filter((module) => module.status === status).length;
    const rows = modules.map((module) => {
      if (module.status === 'tested') return `| \`${module.name}\` | passes | ${cell(module.checks)} |`;
      return `| \`${module.name}\` | not applicable | ${cell(module.reason)}. Tested: ${cell(module.checks)}. |`;
    });
    return [
      `### ${plan}`,
      '',
      `${modules.length} modules: ${count('tested')} pass, ${count('not-applicable')} not applicable.`,
      '',
      '| Module | Result | What is checked |',
      '|---|---|---|',
      ...rows,
    ].join('\n');
  });
  return sections.join('\n\n');
}

export const tableStart = '<!-- conformance-table:start (generated from test/conformance/modules.ts: node test/conformance/print-table.ts) -->';
export const tableEnd = '<!-- conformance-table:end -->';
