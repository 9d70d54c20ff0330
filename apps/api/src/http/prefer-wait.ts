/** The longest a create answer is held for `Prefer: wait`. */
export const MAX_PREFER_WAIT_SECONDS = 60;

/**
 * The `wait` preference of a `Prefer` header (RFC 7240), in seconds: a positive integer, larger
 * values held to 60. Anything else (absent, zero, not a number, a malformed header) is no
 * preference: a server may ignore what it cannot honour, and does.
 */
export function parsePreferWait(header: string | string[] | undefined): number | null {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  for (const preference of values.flatMap((value) => value.split(','))) {
    const [token] = preference.split(';');
    const match = /^\s*wait\s*=\s*"?(\d{1,12})"?\s*$/i.exec(token);
    if (!match) continue;
    const seconds = Number(match[1]);
    return seconds >= 1 ? Math.min(seconds, MAX_PREFER_WAIT_SECONDS) : null;
  }
  return null;
}
