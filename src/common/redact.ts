// One way to hide secrets in anything shown or logged: camera URLs (rtsp, http, …) carry
// passwords in their userinfo and tokens in their query, and ffmpeg's stderr, fetch errors
// and connection strings echo them inside longer texts.

/** `scheme://userinfo@`: the userinfo runs to the last `@` before the path, query or fragment. */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi;

/**
 * `name=value` whose name looks secret (password, pass, pwd, token, access_token, key, apikey,
 * secret, auth, signature, sig, credential, SharedAccessKey, AccountKey, X-Amz-Signature, …),
 * in a query string, a connection string or free text.
 */
// The value ends at a separator; a colon right before one is ffmpeg's "URL: message", kept.
const SECRET_PAIR = /(^|[^\w.-])([\w.-]*(?:pass|pwd|token|secret|key|auth|sig|credential)[\w.-]*=)[^&;\s"'<>#]+?(?=:?(?:[&;\s"'<>#]|$))/gim;

export const REDACTED = '[REDACTED]';

/** The text with every URL's password (or a user-only userinfo) and every secret-looking parameter masked. */
export function redactText(text: string): string {
  return text
    .replace(USERINFO, (_m, scheme: string, userinfo: string) => {
      const colon = userinfo.indexOf(':');
      return colon < 0 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
    })
    .replace(SECRET_PAIR, `$1$2${REDACTED}`);
}

/** Every string inside a log object (nested objects and arrays too) passed through redactText. */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  // Only plain objects: class instances (Buffers, Dates, errors the formatter did not see) stay as pino serialises them.
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, depth + 1);
  return out;
}
