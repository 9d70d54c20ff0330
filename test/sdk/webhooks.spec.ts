import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { verifyWebhook, WebhookVerificationError } from '@main-character/sdk';

const secret = () => `whsec_${randomBytes(24).toString('base64')}`;
const body = JSON.stringify({ type: 'moment.completed', data: { id: 'm1', status: 'COMPLETED' } });

/** A delivery signed the way a Standard Webhooks sender signs it. */
function delivery(signingSecret: string, payload = body, sentAt = new Date()) {
  const id = `msg_${randomBytes(6).toString('hex')}`;
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
    'webhook-signature': new Webhook(signingSecret).sign(id, sentAt, payload),
  };
}

function refusal(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return 'accepted';
}

describe('verifyWebhook', () => {
  it('returns the event of a delivery signed with the secret, from Node or fetch headers and a string or bytes body', () => {
    const key = secret();
    const headers = delivery(key);
    expect(verifyWebhook(body, headers, key)).toEqual(JSON.parse(body));
    const upperCased = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toUpperCase(), value]));
    expect(verifyWebhook(new TextEncoder().encode(body), upperCased, key)).toEqual(JSON.parse(body));
    expect(verifyWebhook(Buffer.from(body), new Headers(headers), [key])).toEqual(JSON.parse(body));
  });

  it('accepts either secret while one is rotated out, and refuses a secret not in the list', () => {
    const [old, current, stranger] = [secret(), secret(), secret()];
    expect(verifyWebhook(body, delivery(old), [current, old])).toEqual(JSON.parse(body));
    expect(verifyWebhook(body, delivery(current), [current, old])).toEqual(JSON.parse(body));
    const error = refusal(() => verifyWebhook(body, delivery(stranger), [current, old]));
    expect(error).toBeInstanceOf(WebhookVerificationError);
    expect(error).toMatchObject({ name: 'WebhookVerificationError', message: 'No matching signature found' });
  });

  it('refuses a tampered body', () => {
    const key = secret();
    const headers = delivery(key);
    expect(refusal(() => verifyWebhook(body.replace('COMPLETED', 'FAILED'), headers, key))).toBeInstanceOf(WebhookVerificationError);
  });

  it('refuses a stale timestamp, even when the signature matches it', () => {
    const key = secret();
    const headers = delivery(key, body, new Date(Date.now() - 10 * 60_000));
    expect(refusal(() => verifyWebhook(body, headers, key))).toMatchObject({ name: 'WebhookVerificationError', message: 'Message timestamp too old' });
  });

  it('refuses a delivery missing a signed header', () => {
    const key = secret();
    const { 'webhook-signature': _signature, ...unsigned } = delivery(key);
    expect(refusal(() => verifyWebhook(body, unsigned, key))).toMatchObject({ name: 'WebhookVerificationError', message: 'Missing the webhook-signature header' });
  });

  it('reports a missing or malformed secret as a programming error, not a refused delivery', () => {
    expect(refusal(() => verifyWebhook(body, delivery(secret()), []))).toBeInstanceOf(TypeError);
    expect(refusal(() => verifyWebhook(body, delivery(secret()), 'whsec_'))).not.toBeInstanceOf(WebhookVerificationError);
  });
});
