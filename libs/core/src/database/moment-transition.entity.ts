import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import type { MomentStatus, Stage } from '@mcm/pipeline';

/** Every event offered to a moment's machine, applied or ignored: the job's history. */
@Entity('moment_transitions')
@Index(['momentId', 'id'])
export class MomentTransitionEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ name: 'moment_id', type: 'uuid' })
  momentId: string;

  @Column({ name: 'event_type', type: 'varchar', length: 32 })
  eventType: string;

  @Column({ type: 'varchar', length: 32, nullable: true })
  stage: string | null;

  @Column({ name: 'from_state', type: 'text' })
  fromState: string;

  @Column({ name: 'to_state', type: 'text' })
  toState: string;

  /** False when the machine ignored the event (late, duplicate or stale). */
  @Column({ type: 'boolean' })
  applied: boolean;

  @Column({ type: 'text', nullable: true })
  detail: string | null;

  /** The moment's status, stage and progress once the row's change committed: what its live event says. Null on rows older than these columns. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  status: MomentStatus | null;

  @Column({ name: 'moment_stage', type: 'varchar', length: 32, nullable: true })
  momentStage: Stage | null;

  @Column({ type: 'real', nullable: true })
  progress: number | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
