import { Injectable } from '@nestjs/common';
import { MusicToolsClient, type MomentEntity } from '@mcm/core';
import type { StageOutput } from '@mcm/pipeline';
import { requireValue, type StageWork } from './stage-work';

/** Asks music-tools whether the blueprint renders; the machine fails the moment when it does not. */
@Injectable()
export class ValidateStage implements StageWork<'validate'> {
  readonly stage = 'validate' as const;

  constructor(private readonly musicTools: MusicToolsClient) {}

  async run(moment: MomentEntity): Promise<StageOutput['validate']> {
    return this.musicTools.validateBlueprint(requireValue(moment.blueprint, 'the blueprint'));
  }
}
