import { Injectable } from '@nestjs/common';
import { composeBlueprint } from '@mcm/audio';
import type { MomentEntity } from '@mcm/core';
import type { StageOutput } from '@mcm/pipeline';
import { requireValue, type StageWork } from './stage-work';

/** Derives the blueprint from the analysis and the user's style, title and lyrics. */
@Injectable()
export class ComposeStage implements StageWork<'compose'> {
  readonly stage = 'compose' as const;

  async run(moment: MomentEntity): Promise<StageOutput['compose']> {
    const blueprint = composeBlueprint(requireValue(moment.analysis, 'the analysis'), {
      momentId: moment.id,
      style: moment.style,
      title: moment.title,
      lyrics: moment.lyrics,
      outputKind: moment.outputKind,
    });
    return { blueprint };
  }
}
