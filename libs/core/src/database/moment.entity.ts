import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import type { WebhookEvent } from '../webhooks/webhook-events';
import type { Analysis, Blueprint, MomentAssets, MomentError, MomentStatus, OutputKind, PersistedMoment, Stage } from '@mcm/pipeline';

/** One moment: the persisted machine snapshot plus columns projected from it for queries and reads. */
@Entity('moments')
export class MomentEntity {
  @PrimaryColumn('uuid')
  id: string;

  @Index()
  @Column({ type: 'varchar', length: 16 })
  status: MomentStatus;

  @Column({ type: 'varchar', length: 32, nullable: true })
  stage: Stage | null;

  @Column({ type: 'real', default: 0 })
  progress: number;

  @Column({ name: 'machine_version', type: 'int' })
  machineVersion: number;

  @Column({ type: 'jsonb' })
  snapshot: PersistedMoment;

  @Column({ name: 'output_kind', type: 'varchar', length: 8 })
  outputKind: OutputKind;

  @Column({ type: 'varchar', length: 120, nullable: true })
  style: string | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  title: string | null;

  @Column({ type: 'text', nullable: true })
  lyrics: string | null;

  @Column({ name: 'original_filename', type: 'varchar', length: 255, nullable: true })
  originalFilename: string | null;

  @Column({ type: 'jsonb', nullable: true })
  blueprint: Blueprint | null;

  @Column({ type: 'jsonb', nullable: true })
  analysis: Analysis | null;

  @Column({ type: 'jsonb', default: () => "'{}'::jsonb" })
  assets: MomentAssets;

  @Column({ type: 'jsonb', nullable: true })
  error: MomentError | null;

  @Column({ type: 'int', default: 0 })
  attempts: number;

  @Column({ name: 'timings_ms', type: 'jsonb', default: () => "'{}'::jsonb" })
  timingsMs: Partial<Record<Stage, number>>;

  /** The API key that created the moment, when client keys are configured. */
  @Column({ name: 'owner', type: 'varchar', length: 64, nullable: true })
  owner: string | null;

  @Column({ name: 'idempotency_key', type: 'varchar', length: 255, nullable: true })
  idempotencyKey: string | null;

  @Column({ name: 'request_hash', type: 'varchar', length: 64, nullable: true })
  requestHash: string | null;

  /** Where the moment's events are delivered (Standard Webhooks); null: none. */
  @Column({ name: 'webhook_url', type: 'text', nullable: true })
  webhookUrl: string | null;

  /** The events `webhookUrl` subscribes to. */
  @Column({ name: 'webhook_events', type: 'jsonb', nullable: true })
  webhookEvents: WebhookEvent[] | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt: Date | null;

  /** Set when the moment was deleted: its objects are gone and the row is a tombstone. */
  @Column({ name: 'deleted_at', type: 'timestamptz', nullable: true })
  deletedAt: Date | null;

  /** Set when RETENTION_DAYS removed the original recording and the stems. */
  @Column({ name: 'assets_expired_at', type: 'timestamptz', nullable: true })
  assetsExpiredAt: Date | null;
}
