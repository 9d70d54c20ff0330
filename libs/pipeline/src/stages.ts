import type { Blueprint, BlueprintError } from './blueprint.schema';

/** The units of work a moment goes through; each is one BullMQ queue. */
export const STAGES = ['analyze', 'compose', 'validate', 'render_vocals', 'render_instrumental', 'mix'] as const;
export type Stage = (typeof STAGES)[number];

export enum MomentStatus {
  Pending = 'PENDING',
  Analyzing = 'ANALYZING',
  Rendering = 'RENDERING',
  Mixing = 'MIXING',
  Completed = 'COMPLETED',
  Failed = 'FAILED',
  Canceled = 'CANCELED',
}

export const TERMINAL_STATUSES: readonly MomentStatus[] = [MomentStatus.Completed, MomentStatus.Failed, MomentStatus.Canceled];

export enum OutputKind {
  Preview = 'preview',
  Song = 'song',
}

/**
 * Retry policy per stage: attempts in one run, and the base and cap of the exponential backoff.
 * Stages that reach storage or music-tools ride out an outage of a minute before failing.
 */
export const STAGE_POLICY: Record<Stage, { attempts: number; backoffMs: number; maxBackoffMs: number }> = {
  analyze: { attempts: 8, backoffMs: 1_000, maxBackoffMs: 30_000 },
  compose: { attempts: 3, backoffMs: 250, maxBackoffMs: 5_000 },
  validate: { attempts: 8, backoffMs: 1_000, maxBackoffMs: 30_000 },
  render_vocals: { attempts: 8, backoffMs: 1_000, maxBackoffMs: 30_000 },
  render_instrumental: { attempts: 8, backoffMs: 1_000, maxBackoffMs: 30_000 },
  mix: { attempts: 8, backoffMs: 1_000, maxBackoffMs: 30_000 },
};

/** Storage keys of a moment's objects, always under `moments/{id}/`. */
export interface MomentAssets {
  original?: string;
  vocals?: string;
  instrumental?: string;
  preview?: string;
  master?: string;
  midi?: string;
  peaks?: string;
}
export type AssetName = keyof MomentAssets;

/** What RETENTION_DAYS expires: the person's recording and the stems made from it; the finished song stays. */
export const EXPIRING_ASSETS = ['original', 'vocals', 'instrumental'] as const satisfies readonly AssetName[];

export interface MomentError {
  stage: Stage | null;
  code: string;
  /** The sentence clients see for `code` (see public-errors.ts). */
  message: string;
  retryable: boolean;
  /** The raw cause, for operators only: may name internal hosts, paths and engine output. */
  detail?: string;
}

export interface DetectedNote {
  midi: number;
  onset_s: number;
  duration_s: number;
}

/** What the analysis stage learns from the upload. */
export interface Analysis {
  duration_s: number;
  sample_rate: number;
  channels: number;
  loudness_lufs: number;
  peak_dbfs: number;
  voiced_start_s: number;
  voiced_end_s: number;
  median_pitch_hz: number | null;
  notes: DetectedNote[];
  tempo_bpm: number;
  tempo_source: 'onsets' | 'style';
  key: string;
  key_confidence: number;
  energy: number;
}

export interface MixResult {
  preview: string;
  master: string;
  midi?: string;
  peaks?: string;
  duration_ms: number;
  loudness_lufs: number;
  true_peak_dbtp: number;
}

/** The payload of every stage job: ids only, state lives in Postgres. */
export interface StageJobData {
  momentId: string;
  stage: Stage;
  run: number;
  attempt: number;
  /** W3C trace context (`traceparent`, `tracestate`) of the work that enqueued the run, when tracing is on. */
  trace?: Record<string, string>;
}

export type StageOutput = {
  analyze: { analysis: Analysis };
  compose: { blueprint: Blueprint };
  validate: { ok: boolean; errors: BlueprintError[] };
  render_vocals: { key: string };
  render_instrumental: { key: string };
  mix: MixResult;
};

/** Every object of a moment lives under this prefix; music-tools reads and writes nothing else. */
export const MOMENT_KEY_PREFIX = 'moments/';

export function storageKey(momentId: string, name: string): string {
  return `${MOMENT_KEY_PREFIX}${momentId}/${name}`;
}
