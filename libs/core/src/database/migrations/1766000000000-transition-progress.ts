import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Each history row records the status, stage and progress it left, so live events replay from history alone. */
export class TransitionProgress1766000000000 implements MigrationInterface {
  name = 'TransitionProgress1766000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "moment_transitions" ADD COLUMN "status" varchar(16), ADD COLUMN "moment_stage" varchar(32), ADD COLUMN "progress" real`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "moment_transitions" DROP COLUMN "progress", DROP COLUMN "moment_stage", DROP COLUMN "status"`);
  }
}
