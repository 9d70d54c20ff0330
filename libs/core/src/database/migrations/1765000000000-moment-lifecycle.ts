import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A deleted moment stays as a tombstone; expired recordings are recorded on the row. */
export class MomentLifecycle1765000000000 implements MigrationInterface {
  name = 'MomentLifecycle1765000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "moments" ADD COLUMN "deleted_at" timestamptz, ADD COLUMN "assets_expired_at" timestamptz`);
    // The retention pass looks only at live rows whose recording is still stored.
    await queryRunner.query(`CREATE INDEX "moments_retention_idx" ON "moments" ("created_at") WHERE "deleted_at" IS NULL AND "assets_expired_at" IS NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "moments_retention_idx"`);
    await queryRunner.query(`ALTER TABLE "moments" DROP COLUMN "assets_expired_at", DROP COLUMN "deleted_at"`);
  }
}
