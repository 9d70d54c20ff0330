import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { MomentStatus, Stage } from '@mcm/pipeline';

/** pending: attempts remain; delivered: a 2xx answer; failed: the schedule ran out or the URL was refused; gone: the URL answered 410 (this or an earlier delivery of the moment). */
export type WebhookDeliveryState = 'pending' | 'delivered' | 'failed' | 'gone';

/** One attempt to deliver, as an operator sees it. */
export interface WebhookAttempt {
  at: string;
  /** The HTTP status; null when no answer came (timeout, refused, network error). */
  status: number | null;
  latency_ms: number;
  error?: string;
}

/** Where the moment stood when the event happened: what the payload reports, whatever the row says by the time it is sent. */
export interface WebhookPoint {
  status: MomentStatus;
  stage: Stage | null;
  progress: number;
  at: string;
}

/** An outbox row: one event of one moment for its webhook, written in the transaction of the change. */
@Entity('webhook_deliveries')
export class WebhookDeliveryEntity {
  /** The stable `webhook-id`: the same on every attempt, so receivers can drop duplicates. */
  @PrimaryColumn({ type: 'varchar', length: 80 })
  id: string;

  @Column({ name: 'moment_id', type: 'uuid' })
  momentId: string;

  /** The history row that caused the event. */
  @Column({ type: 'bigint' })
  seq: string;

  @Column({ name: 'event_type', type: 'varchar', length: 32 })
  eventType: string;

  @Column({ type: 'text' })
  url: string;

  @Column({ type: 'jsonb' })
  point: WebhookPoint;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  state: WebhookDeliveryState;

  @Column({ type: 'jsonb', default: () => "'[]'::jsonb" })
  attempts: WebhookAttempt[];

  @Column({ name: 'next_attempt_at', type: 'timestamptz' })
  nextAttemptAt: Date;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
