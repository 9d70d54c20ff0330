import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * History rows written before `TransitionProgress1766000000000` carry no status, stage or progress, so a moment
 * made then replayed no events: its stream stayed silent and never ended. Each such moment's last history row is
 * given the point the moment stands at (the row's outcome, by definition), so its stream replays from where it is
 * and ends when that is terminal. Earlier rows stay without a point: what they left was never recorded.
 */
export class TransitionPointBackfill1768000000000 implements MigrationInterface {
  name = 'TransitionPointBackfill1768000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      UPDATE "moment_transitions" AS "t"
         SET "status" = "m"."status", "moment_stage" = "m"."stage", "progress" = "m"."progress"
        FROM "moments" AS "m"
       WHERE "t"."moment_id" = "m"."id"
         AND "t"."status" IS NULL
         AND "t"."id" = (SELECT max("l"."id") FROM "moment_transitions" AS "l" WHERE "l"."moment_id" = "m"."id")`);
  }

  async down(): Promise<void> {
    // The points it wrote are true of their rows: nothing to undo.
  }
}
