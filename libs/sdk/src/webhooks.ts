import { Webhook } from 'standardwebhooks';
import { WebhookVerificationError } from './errors';

/** Request headers as Node (`req.headers`), fetch (`Headers`) or a plain object gives them. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

const SIGNED_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

/**
 * Checks a webhook delivery (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
 * `webhook-signature`) against the endpoint's `whsec_…` secret and returns the parsed event.
 * Pass several secrets while rotating: the delivery is accepted when any one of them signed it.
 * `body` must be the raw request body exactly as received, not re-serialised JSON.
 * Throws WebhookVerificationError on a missing header, a bad signature or a timestamp more than
 * five minutes away from now.
 */
export function verifyWebhook<T = unknown>(body: string | Uint8Array, headers: WebhookHeaders, secret: string | readonly string[]): T {
  const secrets = typeof secret === 'string' ? [secret] : [...secret];
  if (secrets.length === 0) throw new TypeError('verifyWebhook: at least one secret is required');
  // Built first, so a malformed secret is a configuration error rather than a refused delivery.
  const verifiers = secrets.map((candidate) => new Webhook(candidate));
  const payload = typeof body === 'string' ? body : new TextDecoder().decode(body);
  const signed = signedHeaders(headers);
  let failure: unknown;
  for (const verifier of verifiers) {
    try {
      return verifier.verify(payload, signed) as T;
    } catch (error) {
      failure = error;
    }
  }
  throw new WebhookVerificationError(failure instanceof Error ? failure.message : 'No matching signature found');
}

function signedHeaders(headers: WebhookHeaders): Record<string, string> {
  const read = (name: string): string | undefined => {
    if (typeof Headers !== 'undefined' && headers instanceof Headers) return headers.get(name) ?? undefined;
    const record = headers as Record<string, string | string[] | undefined>;
    const key = Object.keys(record).find((k) => k.toLowerCase() === name);
    const value = key === undefined ? undefined : record[key];
    return Array.isArray(value) ? value.join(' ') : value;
  };
  const signed: Record<string, string> = {};
  for (const name of SIGNED_HEADERS) {
    const value = read(name);
    if (value === undefined) throw new WebhookVerificationError(`Missing the ${name} header`);
    signed[name] = value;
  }
  return signed;
}
