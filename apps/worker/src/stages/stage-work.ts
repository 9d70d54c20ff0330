import { extname } from 'node:path';
import { uploadDemuxer } from '@mcm/audio';
import type { MomentEntity } from '@mcm/core';
import { PipelineError, renderTooLong, type Blueprint, type Stage, type StageOutput } from '@mcm/pipeline';

/** A scratch directory of the run, made on the first call and removed when the run ends; stages that never touch disk never make one. */
export type WorkDirectory = () => Promise<string>;

/** One stage's work: reads the moment, produces the stage's output. Must be idempotent. */
export interface StageWork<S extends Stage = Stage> {
  readonly stage: S;
  run(moment: MomentEntity, workdir: WorkDirectory): Promise<StageOutput[S]>;
}

export const STAGE_WORKS = Symbol('STAGE_WORKS');

/** An error that carries the moment's error code and whether trying again can help. */
export class StageError extends PipelineError {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export function requireValue<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new StageError('STAGE_INPUT_MISSING', `${what} is missing`, false);
  return value;
}

/** The moment's blueprint, refused for good (BLUEPRINT_TOO_LONG) when it asks for more audio than may be rendered. */
export function renderableBlueprint(moment: MomentEntity, maxRenderSeconds: number): Blueprint {
  const blueprint = requireValue(moment.blueprint, 'the blueprint');
  const tooLong = renderTooLong(blueprint, maxRenderSeconds);
  if (tooLong) throw new StageError(tooLong.code, tooLong.message, false);
  return blueprint;
}

/** The demuxer of the stored original: its key ends in the container the upload was sniffed as. */
export function originalFormat(key: string): string {
  const format = uploadDemuxer(extname(key).slice(1));
  if (!format) throw new StageError('AUDIO_UNDECODABLE', 'the original upload is not in a known container', false);
  return format;
}
