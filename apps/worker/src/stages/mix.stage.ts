import { Injectable } from '@nestjs/common';
import { MusicToolsClient, StorageRepository, type MomentEntity } from '@mcm/core';
import { storageKey, type StageOutput } from '@mcm/pipeline';
import { requireValue, type StageWork } from './stage-work';

/**
 * Mixing and mastering happen in music-tools. Nothing crosses a shared disk: music-tools
 * reads the stems and writes the results through presigned URLs.
 */
@Injectable()
export class MixStage implements StageWork<'mix'> {
  readonly stage = 'mix' as const;

  constructor(
    private readonly storage: StorageRepository,
    private readonly musicTools: MusicToolsClient,
  ) {}

  async run(moment: MomentEntity): Promise<StageOutput['mix']> {
    const preview = storageKey(moment.id, 'preview.mp3');
    const master = storageKey(moment.id, 'master.wav');
    const vocals = moment.assets.vocals;
    const report = await this.musicTools.synthesizePreview({
      blueprint: requireValue(moment.blueprint, 'the blueprint'),
      stems: {
        instrumental_url: await this.storage.presignGet(requireValue(moment.assets.instrumental, 'the instrumental stem')),
        vocals_url: vocals ? await this.storage.presignGet(vocals) : null,
      },
      upload: {
        preview_url: await this.storage.presignPut(preview, 'audio/mpeg'),
        master_url: await this.storage.presignPut(master, 'audio/wav'),
      },
    });
    return {
      preview,
      master,
      duration_ms: report.duration_ms,
      loudness_lufs: report.loudness_lufs,
      true_peak_dbtp: report.true_peak_dbtp,
    };
  }
}
