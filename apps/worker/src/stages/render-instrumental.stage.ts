import { join } from 'node:path';
import { Injectable } from '@nestjs/common';
import { renderInstrumental } from '@mcm/audio';
import { StorageRepository, type MomentEntity } from '@mcm/core';
import { storageKey, type StageOutput } from '@mcm/pipeline';
import { requireValue, type StageWork } from './stage-work';

/** The instrumental stem, synthesised from the blueprint. */
@Injectable()
export class RenderInstrumentalStage implements StageWork<'render_instrumental'> {
  readonly stage = 'render_instrumental' as const;

  constructor(private readonly storage: StorageRepository) {}

  async run(moment: MomentEntity, workdir: string): Promise<StageOutput['render_instrumental']> {
    const stem = join(workdir, 'instrumental.wav');
    await renderInstrumental(requireValue(moment.blueprint, 'the blueprint'), stem);
    const key = storageKey(moment.id, 'stems/instrumental.wav');
    await this.storage.putFile(key, stem, 'audio/wav');
    return { key };
  }
}
