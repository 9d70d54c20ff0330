import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A moment may name a webhook; each event it subscribes to is an outbox row, written with the change that caused it. */
export class WebhookDeliveries1767000000000 implements MigrationInterface {
  name = 'WebhookDeliveries1767000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "moments" ADD COLUMN "webhook_url" text, ADD COLUMN "webhook_events" jsonb`);
    await queryRunner.query(`
      CREATE TABLE "webhook_deliveries" (
        "id" varchar(80) PRIMARY KEY,
        "moment_id" uuid NOT NULL,
        "seq" bigint NOT NULL,
        "event_type" varchar(32) NOT NULL,
        "url" text NOT NULL,
        "point" jsonb NOT NULL,
        "state" varchar(16) NOT NULL DEFAULT 'pending',
        "attempts" jsonb NOT NULL DEFAULT '[]'::jsonb,
        "next_attempt_at" timestamptz NOT NULL DEFAULT now(),
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX "webhook_deliveries_moment_idx" ON "webhook_deliveries" ("moment_id", "seq")`);
    // The reconciler looks only at deliveries still to be made.
    await queryRunner.query(`CREATE INDEX "webhook_deliveries_pending_idx" ON "webhook_deliveries" ("next_attempt_at") WHERE "state" = 'pending'`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "webhook_deliveries"`);
    await queryRunner.query(`ALTER TABLE "moments" DROP COLUMN "webhook_events", DROP COLUMN "webhook_url"`);
  }
}
