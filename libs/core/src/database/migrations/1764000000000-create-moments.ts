import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateMoments1764000000000 implements MigrationInterface {
  name = 'CreateMoments1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "moments" (
        "id" uuid PRIMARY KEY,
        "status" varchar(16) NOT NULL,
        "stage" varchar(32),
        "progress" real NOT NULL DEFAULT 0,
        "machine_version" integer NOT NULL,
        "snapshot" jsonb NOT NULL,
        "output_kind" varchar(8) NOT NULL,
        "style" varchar(120),
        "title" varchar(200),
        "lyrics" text,
        "original_filename" varchar(255),
        "blueprint" jsonb,
        "analysis" jsonb,
        "assets" jsonb NOT NULL DEFAULT '{}'::jsonb,
        "error" jsonb,
        "attempts" integer NOT NULL DEFAULT 0,
        "timings_ms" jsonb NOT NULL DEFAULT '{}'::jsonb,
        "owner" varchar(64),
        "idempotency_key" varchar(255),
        "request_hash" varchar(64),
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        "completed_at" timestamptz
      )`);
    await queryRunner.query(`CREATE INDEX "moments_status_idx" ON "moments" ("status", "updated_at")`);
    await queryRunner.query(`CREATE INDEX "moments_created_idx" ON "moments" ("created_at" DESC, "id" DESC)`);
    // One moment per key and client; NULL owner is the anonymous client.
    await queryRunner.query(`CREATE UNIQUE INDEX "moments_idempotency_idx" ON "moments" (COALESCE("owner", ''), "idempotency_key") WHERE "idempotency_key" IS NOT NULL`);
    await queryRunner.query(`
      CREATE TABLE "moment_transitions" (
        "id" bigserial PRIMARY KEY,
        "moment_id" uuid NOT NULL REFERENCES "moments" ("id") ON DELETE CASCADE,
        "event_type" varchar(32) NOT NULL,
        "stage" varchar(32),
        "from_state" text NOT NULL,
        "to_state" text NOT NULL,
        "applied" boolean NOT NULL,
        "detail" text,
        "created_at" timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX "moment_transitions_moment_idx" ON "moment_transitions" ("moment_id", "id")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "moment_transitions"`);
    await queryRunner.query(`DROP TABLE "moments"`);
  }
}
