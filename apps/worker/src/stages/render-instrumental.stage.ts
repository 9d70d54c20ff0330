import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { conformToBlueprint, renderInstrumental } from '@mcm/audio';
import { APP_CONFIG, compositionPlan, ELEVENLABS_OUTPUT, ElevenLabsClient, StorageRepository, type WorkerConfig, type MomentEntity } from '@mcm/core';
import { OutputKind, storageKey, type StageOutput } from '@mcm/pipeline';
import { renderableBlueprint, type StageWork, type WorkDirectory } from './stage-work';

/**
 * The instrumental stem: synthesised from the blueprint by the local engine, or, for a full song with
 * ElevenLabs configured, composed by ElevenLabs music from a plan derived from the blueprint.
 */
@Injectable()
export class RenderInstrumentalStage implements StageWork<'render_instrumental'> {
  readonly stage = 'render_instrumental' as const;

  constructor(
    private readonly storage: StorageRepository,
    private readonly elevenLabs: ElevenLabsClient,
    @Inject(APP_CONFIG) private readonly config: Pick<WorkerConfig, 'MAX_RENDER_SECONDS'>,
  ) {}

  async run(moment: MomentEntity, workdir: WorkDirectory): Promise<StageOutput['render_instrumental']> {
    const blueprint = renderableBlueprint(moment, this.config.MAX_RENDER_SECONDS);
    const directory = await workdir();
    const stem = join(directory, 'instrumental.wav');
    if (this.elevenLabs.enabled && moment.outputKind === OutputKind.Song) {
      const composed = join(directory, 'composed.mp3');
      await writeFile(composed, await this.elevenLabs.composeMusic({ compositionPlan: compositionPlan(blueprint), outputFormat: ELEVENLABS_OUTPUT.format }));
      await conformToBlueprint(composed, ELEVENLABS_OUTPUT.demuxer, blueprint, stem);
    } else {
      await renderInstrumental(blueprint, stem);
    }
    const key = storageKey(moment.id, 'stems/instrumental.wav');
    await this.storage.putFile(key, stem, 'audio/wav');
    return { key };
  }
}
