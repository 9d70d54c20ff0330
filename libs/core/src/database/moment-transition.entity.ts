import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

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

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
