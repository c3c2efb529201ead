/**
 * The acr values an authorization request names, for the levels (levels.ts `requiredLevel`): its
 * `acr_values`, and the `values` of an essential `acr` claim in its claims request parameter
 * (OpenID Connect Core §5.5.1.1), space-separated as `acr_values` is. Without this, a client asking
 * for a level through the claims parameter would be sent back to the login page by the provider's
 * essential_acrs check, sign-in after sign-in. A claims parameter that does not parse names
 * nothing here (the provider refuses it with invalid_request).
 */
export function requestedAcrValues(params: { acr_values?: unknown; claims?: unknown }): string | undefined {
  const asked = typeof params.acr_values === 'string' ? params.acr_values.split(' ').filter(Boolean) : [];
  for (const value of essentialAcrValues(params.claims)) if (!asked.includes(value)) asked.push(value);
  return asked.length ? asked.join(' ') : undefined;
}

function essentialAcrValues(claims: unknown): string[] {
  if (typeof claims !== 'string') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(claims);
  } catch {
    return [];
  }
  const acr = (parsed as { id_token?: { acr?: unknown } } | null)?.id_token?.acr as { essential?: unknown; values?: unknown } | null | undefined;
  if (!acr || acr.essential !== true || !Array.isArray(acr.values)) return [];
  return acr.values.filter((value): value is string => typeof value === 'string' && !/\s/.test(value));
}
