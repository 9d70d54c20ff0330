import { Webhook } from 'standardwebhooks';

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * Signs deliveries the Standard Webhooks way with the reference library: one `v1,` signature per
 * configured secret, space-separated, so a receiver holding either the old or the new secret verifies.
 */
export class WebhookSigner {
  private readonly keys: Webhook[];

  constructor(secrets: readonly string[]) {
    this.keys = secrets.map((secret) => new Webhook(secret));
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  headers(id: string, at: Date, body: string): SignedHeaders {
    if (!this.enabled) throw new Error('no WEBHOOK_SECRET to sign with');
    return {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': this.keys.map((key) => key.sign(id, at, body)).join(' '),
    };
  }
}
