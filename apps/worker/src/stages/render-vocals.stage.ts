import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { renderVocals } from '@mcm/audio';
import { APP_CONFIG, ELEVENLABS_OUTPUT, ElevenLabsClient, StorageRepository, type WorkerConfig, type MomentEntity } from '@mcm/core';
import { storageKey, type Blueprint, type StageOutput } from '@mcm/pipeline';
import { originalFormat, renderableBlueprint, requireValue, type StageWork, type WorkDirectory } from './stage-work';

// The blueprint's voice when no ElevenLabs voice was chosen: the user's own take only.
const LOCAL_VOICE = 'local-voice';

/**
 * The vocal stem: the user's own clip, pitch-corrected and sung at the hooks; with ElevenLabs
 * configured, the lyrics are also spoken by an ElevenLabs voice over the verse.
 */
@Injectable()
export class RenderVocalsStage implements StageWork<'render_vocals'> {
  readonly stage = 'render_vocals' as const;

  constructor(
    private readonly storage: StorageRepository,
    private readonly elevenLabs: ElevenLabsClient,
    @Inject(APP_CONFIG) private readonly config: Pick<WorkerConfig, 'MAX_RENDER_SECONDS'>,
  ) {}

  async run(moment: MomentEntity, workdir: WorkDirectory): Promise<StageOutput['render_vocals']> {
    const blueprint = renderableBlueprint(moment, this.config.MAX_RENDER_SECONDS);
    const directory = await workdir();
    const original = join(directory, 'original');
    const stem = join(directory, 'vocals.wav');
    const originalKey = requireValue(moment.assets.original, 'the original upload');
    const format = originalFormat(originalKey);
    const [, speech] = await Promise.all([this.storage.downloadTo(originalKey, original), this.elevenLabs.enabled ? this.speak(blueprint, join(directory, 'speech.mp3')) : null]);
    await renderVocals(original, blueprint, requireValue(moment.analysis, 'the analysis'), stem, { format, speech: speech ? { path: speech, format: ELEVENLABS_OUTPUT.demuxer } : null });
    const key = storageKey(moment.id, 'stems/vocals.wav');
    await this.storage.putFile(key, stem, 'audio/wav');
    return { key };
  }

  private async speak(blueprint: Blueprint, file: string): Promise<string> {
    const voice = blueprint.voice;
    const audio = await this.elevenLabs.textToSpeech({
      voiceId: voice.voice_id === LOCAL_VOICE ? this.elevenLabs.defaultVoiceId : voice.voice_id,
      text: blueprint.lyrics,
      modelId: voice.model_id ?? 'eleven_multilingual_v2',
      voiceSettings: {
        stability: voice.stability ?? 0.5,
        similarity_boost: voice.similarity_boost ?? 0.75,
        style: voice.style_exaggeration ?? 0,
        use_speaker_boost: voice.speaker_boost ?? true,
      },
      outputFormat: ELEVENLABS_OUTPUT.format,
    });
    await writeFile(file, audio);
    return file;
  }
}
