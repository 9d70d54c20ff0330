import { MomentStatus, TERMINAL_STATUSES, type Stage } from '@mcm/pipeline';

/** What a client may subscribe a webhook to, as `webhook_events` names it. */
export const WEBHOOK_EVENTS = ['start', 'progress', 'completed', 'failed', 'canceled'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Without `webhook_events`: how the moment ends. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEvent[] = ['completed', 'failed', 'canceled'];

/** The payload's `type`, per subscribed event. */
export const WEBHOOK_EVENT_TYPES = {
  start: 'moment.started',
  progress: 'moment.progress',
  completed: 'moment.completed',
  failed: 'moment.failed',
  canceled: 'moment.canceled',
} as const satisfies Record<WebhookEvent, string>;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[WebhookEvent];

const TERMINAL_EVENTS: Partial<Record<MomentStatus, WebhookEvent>> = {
  [MomentStatus.Completed]: 'completed',
  [MomentStatus.Failed]: 'failed',
  [MomentStatus.Canceled]: 'canceled',
};

export interface MomentPosition {
  status: MomentStatus;
  stage: Stage | null;
  progress: number;
}

/**
 * The event a change from `before` to `after` is, or null: ending (completed, failed, canceled),
 * starting work (from PENDING, or again after an end), or any other move of status, stage or progress.
 */
export function webhookEventOf(before: MomentPosition, after: MomentPosition): WebhookEvent | null {
  if (after.status !== before.status && TERMINAL_EVENTS[after.status]) return TERMINAL_EVENTS[after.status]!;
  if (after.status === MomentStatus.Pending || TERMINAL_STATUSES.includes(after.status)) return null;
  if (before.status === MomentStatus.Pending || TERMINAL_STATUSES.includes(before.status)) return 'start';
  return after.status !== before.status || after.stage !== before.stage || after.progress !== before.progress ? 'progress' : null;
}

/** The event when the moment subscribes to it, else null. */
export function subscribedEvent(subscribed: readonly WebhookEvent[] | null, before: MomentPosition, after: MomentPosition): WebhookEvent | null {
  const event = webhookEventOf(before, after);
  return event && (subscribed ?? DEFAULT_WEBHOOK_EVENTS).includes(event) ? event : null;
}

/** The `webhook-id` of the event caused by history row `seq`: the same on every attempt and every enqueue. */
export function webhookDeliveryId(momentId: string, seq: string | bigint): string {
  return `msg_${momentId}_${seq}`;
}
