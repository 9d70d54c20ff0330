import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Each create counts its key's moments in flight; this index keeps that count to the few rows it is about. */
export class MomentsInFlightIndex1764100000000 implements MigrationInterface {
  name = 'MomentsInFlightIndex1764100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "moments_owner_in_flight_idx" ON "moments" ("owner") WHERE "status" NOT IN ('COMPLETED', 'FAILED', 'CANCELED')`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "moments_owner_in_flight_idx"`);
  }
}
