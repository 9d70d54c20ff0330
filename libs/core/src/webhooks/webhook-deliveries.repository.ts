import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { WebhookDeliveryEntity, type WebhookAttempt, type WebhookDeliveryState, type WebhookPoint } from '../database/webhook-delivery.entity';

/** A delivery the outbox is asked to write. */
export interface NewWebhookDelivery {
  id: string;
  momentId: string;
  seq: string;
  eventType: string;
  url: string;
  point: WebhookPoint;
}

/** The outbox of webhook deliveries: written with the moment's change, then worked off by the worker. */
@Injectable()
export class WebhookDeliveriesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Writes a delivery inside the caller's transaction; nothing when the id exists or an earlier
   * delivery of the moment found its URL gone (410). True when written.
   */
  async add(manager: EntityManager, delivery: NewWebhookDelivery): Promise<boolean> {
    const rows = await manager.query<Array<{ id: string }>>(
      `INSERT INTO webhook_deliveries (id, moment_id, seq, event_type, url, point)
       SELECT $1, $2, $3, $4, $5, $6
        WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries WHERE moment_id = $2 AND state = 'gone')
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [delivery.id, delivery.momentId, delivery.seq, delivery.eventType, delivery.url, JSON.stringify(delivery.point)],
    );
    return rows.length > 0;
  }

  findById(id: string): Promise<WebhookDeliveryEntity | null> {
    return this.dataSource.getRepository(WebhookDeliveryEntity).findOneBy({ id });
  }

  /** The moment's deliveries, oldest event first. */
  forMoment(momentId: string): Promise<WebhookDeliveryEntity[]> {
    return this.dataSource.getRepository(WebhookDeliveryEntity).find({ where: { momentId }, order: { seq: 'ASC' } });
  }

  /**
   * Appends an attempt and sets the delivery's state. `gone` also stops every other pending
   * delivery of the moment: its URL said it wants no more.
   */
  async recordAttempt(id: string, attempt: WebhookAttempt, state: WebhookDeliveryState, nextAttemptAt: Date | null): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const rows = await manager.query<Array<{ moment_id: string }>>(
        `UPDATE webhook_deliveries SET attempts = attempts || $2::jsonb, state = $3, next_attempt_at = COALESCE($4, next_attempt_at), updated_at = now()
          WHERE id = $1 AND state = 'pending' RETURNING moment_id`,
        [id, JSON.stringify([attempt]), state, nextAttemptAt],
      );
      if (state === 'gone' && rows.length) {
        await manager.query(`UPDATE webhook_deliveries SET state = 'gone', updated_at = now() WHERE moment_id = $1 AND state = 'pending'`, [rows[0].moment_id]);
      }
    });
  }

  /** Pending deliveries due by now (their message may be lost): the reconciler's candidates. */
  findDue(limit: number): Promise<WebhookDeliveryEntity[]> {
    return this.dataSource
      .getRepository(WebhookDeliveryEntity)
      .createQueryBuilder('d')
      .where("d.state = 'pending'")
      .andWhere('d.next_attempt_at <= now()')
      .orderBy('d.next_attempt_at', 'ASC')
      .limit(limit)
      .getMany();
  }
}
