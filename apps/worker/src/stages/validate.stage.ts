import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, MusicToolsClient, type WorkerConfig, type MomentEntity } from '@mcm/core';
import type { StageOutput } from '@mcm/pipeline';
import { renderableBlueprint, type StageWork } from './stage-work';

/**
 * Asks music-tools whether the blueprint renders; the machine fails the moment when it does not.
 * A blueprint longer than MAX_RENDER_SECONDS fails here, once and for good, before any render.
 */
@Injectable()
export class ValidateStage implements StageWork<'validate'> {
  readonly stage = 'validate' as const;

  constructor(
    private readonly musicTools: MusicToolsClient,
    @Inject(APP_CONFIG) private readonly config: Pick<WorkerConfig, 'MAX_RENDER_SECONDS'>,
  ) {}

  async run(moment: MomentEntity): Promise<StageOutput['validate']> {
    return this.musicTools.validateBlueprint(renderableBlueprint(moment, this.config.MAX_RENDER_SECONDS));
  }
}
