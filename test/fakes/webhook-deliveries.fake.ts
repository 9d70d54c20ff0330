import { WebhookDeliveryEntity, type NewWebhookDelivery, type WebhookAttempt, type WebhookDeliveriesRepository, type WebhookDeliveryState } from '@mcm/core';
import type { Port } from './port';

/** The webhook outbox in memory, with the repository's rules: one row per id, none after the moment's URL is gone. */
export class FakeWebhookDeliveries implements Port<WebhookDeliveriesRepository> {
  readonly rows = new Map<string, WebhookDeliveryEntity>();

  /** The fake moments repository writes here, as the real one writes in the change's transaction. */
  put(delivery: NewWebhookDelivery): boolean {
    const gone = [...this.rows.values()].some((row) => row.momentId === delivery.momentId && row.state === 'gone');
    if (gone || this.rows.has(delivery.id)) return false;
    const now = new Date();
    this.rows.set(delivery.id, Object.assign(new WebhookDeliveryEntity(), { ...delivery, state: 'pending', attempts: [], nextAttemptAt: now, createdAt: now, updatedAt: now }));
    return true;
  }

  async add(_manager: unknown, delivery: NewWebhookDelivery): Promise<boolean> {
    return this.put(delivery);
  }

  async findById(id: string): Promise<WebhookDeliveryEntity | null> {
    const row = this.rows.get(id);
    return row ? Object.assign(new WebhookDeliveryEntity(), structuredClone(row)) : null;
  }

  async forMoment(momentId: string): Promise<WebhookDeliveryEntity[]> {
    return [...this.rows.values()].filter((row) => row.momentId === momentId).sort((a, b) => Number(a.seq) - Number(b.seq));
  }

  async recordAttempt(id: string, attempt: WebhookAttempt, state: WebhookDeliveryState, nextAttemptAt: Date | null): Promise<void> {
    const row = this.rows.get(id);
    if (row?.state !== 'pending') return;
    Object.assign(row, { attempts: [...row.attempts, attempt], state, nextAttemptAt: nextAttemptAt ?? row.nextAttemptAt, updatedAt: new Date() });
    if (state === 'gone') for (const other of this.rows.values()) if (other.momentId === row.momentId && other.state === 'pending') other.state = 'gone';
  }

  async findDue(limit: number): Promise<WebhookDeliveryEntity[]> {
    const now = Date.now();
    return [...this.rows.values()].filter((row) => row.state === 'pending' && row.nextAttemptAt.getTime() <= now).slice(0, limit);
  }
}
