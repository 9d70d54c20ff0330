import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, MusicToolsClient, StorageRepository, type WorkerConfig, type MomentEntity } from '@mcm/core';
import { storageKey, type StageOutput } from '@mcm/pipeline';
import { renderableBlueprint, requireValue, type StageWork } from './stage-work';

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
    @Inject(APP_CONFIG) private readonly config: Pick<WorkerConfig, 'MAX_RENDER_SECONDS'>,
  ) {}

  async run(moment: MomentEntity): Promise<StageOutput['mix']> {
    const blueprint = renderableBlueprint(moment, this.config.MAX_RENDER_SECONDS);
    const preview = storageKey(moment.id, 'preview.mp3');
    const master = storageKey(moment.id, 'master.wav');
    const midi = storageKey(moment.id, 'arrangement.mid');
    const peaks = storageKey(moment.id, 'peaks.json');
    const vocals = moment.assets.vocals;
    const instrumental = requireValue(moment.assets.instrumental, 'the instrumental stem');
    const [instrumentalUrl, vocalsUrl, previewUrl, masterUrl, midiUrl, peaksUrl] = await Promise.all([
      this.storage.presignGet(instrumental),
      vocals ? this.storage.presignGet(vocals) : null,
      this.storage.presignPut(preview, 'audio/mpeg'),
      this.storage.presignPut(master, 'audio/wav'),
      this.storage.presignPut(midi, 'audio/midi'),
      this.storage.presignPut(peaks, 'application/json'),
    ]);
    const report = await this.musicTools.synthesizePreview({
      blueprint,
      stems: { instrumental_url: instrumentalUrl, vocals_url: vocalsUrl },
      upload: { preview_url: previewUrl, master_url: masterUrl, midi_url: midiUrl, peaks_url: peaksUrl },
    });
    return {
      preview,
      master,
      midi,
      peaks,
      duration_ms: report.duration_ms,
      loudness_lufs: report.loudness_lufs,
      true_peak_dbtp: report.true_peak_dbtp,
    };
  }
}
