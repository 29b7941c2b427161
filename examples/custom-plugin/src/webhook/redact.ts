/** Replaces what looks like a credential in a text; applied to every message before it leaves the host. */
export type Redactor = (text: string) => string;

/** What a redacted value is replaced with. */
export const REDACTED = '***';

/** The shortest secret accepted: shorter ones would blank out ordinary words. */
export const MIN_SECRET_LENGTH = 6;

/**
 * Credentials recognised by their shape, whoever printed them: user:password in a URL, bearer and basic
 * authorisation, secret-looking query parameters and `NAME=value` assignments, Slack tokens.
 */
const PATTERNS: readonly [RegExp, string][] = [
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, `$1${REDACTED}@`],
  [/\b(Bearer|Basic|Token)(\s+)[\w.~+/=-]{8,}/gi, `$1$2${REDACTED}`],
  [
    /([?&](?:access_token|token|api_?key|key|secret|password|passwd|sig|signature|auth)=)[^&\s#"']+/gi,
    `$1${REDACTED}`,
  ],
  [
    /\b([A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY)[A-Z0-9_]*)=(?!\*\*\*)\S+/g,
    `$1=${REDACTED}`,
  ],
  [/\bxox[abposr]-[\w-]+/g, `xox-${REDACTED}`],
];

/**
 * A redactor for the given secret values (the webhook URL, tokens the pipeline's steps use) and the
 * credential shapes above. A secret is also found URL-encoded. Longer secrets are replaced first, so a
 * secret that contains another is never left half visible.
 */
export function createRedactor(secrets: readonly string[]): Redactor {
  const literals = [...new Set(secrets.flatMap((secret) => [secret, encodeURIComponent(secret)]))]
    .filter((secret) => secret.length >= MIN_SECRET_LENGTH)
    .sort((a, b) => b.length - a.length);
  return (text) => {
    let result = text;
    for (const literal of literals) result = result.split(literal).join(REDACTED);
    for (const [pattern, replacement] of PATTERNS) result = result.replace(pattern, replacement);
    return result;
  };
}
