import { join } from 'node:path';
import { Injectable } from '@nestjs/common';
import { analyzeAudio } from '@mcm/audio';
import { StorageRepository, type MomentEntity } from '@mcm/core';
import type { StageOutput } from '@mcm/pipeline';
import { originalFormat, requireValue, type StageWork, type WorkDirectory } from './stage-work';

/** Reads the uploaded clip: loudness, pitch, notes, tempo, key. */
@Injectable()
export class AnalyzeStage implements StageWork<'analyze'> {
  readonly stage = 'analyze' as const;

  constructor(private readonly storage: StorageRepository) {}

  async run(moment: MomentEntity, workdir: WorkDirectory): Promise<StageOutput['analyze']> {
    const original = join(await workdir(), 'original');
    const key = requireValue(moment.assets.original, 'the original upload');
    const format = originalFormat(key);
    await this.storage.downloadTo(key, original);
    return { analysis: await analyzeAudio(original, format) };
  }
}
