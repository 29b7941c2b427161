/** Who made a request: a configured user or bearer token; anonymous requests have none. */
export interface AuthenticatedPrincipal {
  /** The user's or token's name. */
  readonly name: string;
  readonly kind: 'user' | 'token';
  /** How the request proved it. */
  readonly scheme: 'basic' | 'digest' | 'bearer';
}

/**
 * Whether a rule (a share's `read` or `write` list) grants access to a principal (undefined =
 * anonymous): `anonymous` grants everyone, `authenticated` any login, a name that principal, `@group` its
 * members. An empty rule grants nobody.
 */
export function ruleAllows(
  rule: readonly string[],
  principal: AuthenticatedPrincipal | undefined,
  groups: ReadonlyMap<string, readonly string[]>,
): boolean {
  for (const entry of rule) {
    if (entry === 'anonymous') return true;
    if (!principal) continue;
    if (entry === 'authenticated' || entry === principal.name) return true;
    if (entry.startsWith('@') && groups.get(entry.slice(1))?.includes(principal.name) === true) return true;
  }
  return false;
}
