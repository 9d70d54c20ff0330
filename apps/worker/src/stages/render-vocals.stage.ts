import { join } from 'node:path';
import { Injectable } from '@nestjs/common';
import { renderVocals } from '@mcm/audio';
import { StorageRepository, type MomentEntity } from '@mcm/core';
import { storageKey, type StageOutput } from '@mcm/pipeline';
import { requireValue, type StageWork } from './stage-work';

/** The vocal stem: the user's own clip, cleaned and placed on the song's grid. */
@Injectable()
export class RenderVocalsStage implements StageWork<'render_vocals'> {
  readonly stage = 'render_vocals' as const;

  constructor(private readonly storage: StorageRepository) {}

  async run(moment: MomentEntity, workdir: string): Promise<StageOutput['render_vocals']> {
    const original = join(workdir, 'original');
    const stem = join(workdir, 'vocals.wav');
    await this.storage.downloadTo(requireValue(moment.assets.original, 'the original upload'), original);
    await renderVocals(original, requireValue(moment.blueprint, 'the blueprint'), requireValue(moment.analysis, 'the analysis'), stem);
    const key = storageKey(moment.id, 'stems/vocals.wav');
    await this.storage.putFile(key, stem, 'audio/wav');
    return { key };
  }
}
