import { Module, type DynamicModule } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { LoggerModule } from 'nestjs-pino';
import { CoreModule, MomentRetention, nestLoggerParams, RETENTION_QUEUE, WebhookSigner, type WorkerConfig } from '@mcm/core';
import { STAGES, type Stage } from '@mcm/pipeline';
import { Reconciler } from './reconciler.service';
import { RetentionProcessor } from './retention.processor';
import { StageRunner } from './stage-runner.service';
import { stageProcessor, stageWorkerOptions } from './stage.processors';
import { AnalyzeStage } from './stages/analyze.stage';
import { ComposeStage } from './stages/compose.stage';
import { MixStage } from './stages/mix.stage';
import { RenderInstrumentalStage } from './stages/render-instrumental.stage';
import { RenderVocalsStage } from './stages/render-vocals.stage';
import { STAGE_WORKS } from './stages/stage-work';
import { ValidateStage } from './stages/validate.stage';
import { WebhookDelivery } from './webhooks/webhook-delivery.service';
import { WebhookProcessor } from './webhooks/webhook.processor';

const WORKS = [AnalyzeStage, ComposeStage, ValidateStage, RenderVocalsStage, RenderInstrumentalStage, MixStage];

/** The stages this process serves: `WORKER_STAGES=render_vocals,render_instrumental`, or all. */
export function selectedStages(config: WorkerConfig): Stage[] {
  if (!config.WORKER_STAGES) return [...STAGES];
  const wanted = config.WORKER_STAGES.split(',')
    .map((stage) => stage.trim())
    .filter(Boolean);
  const unknown = wanted.filter((stage) => !(STAGES as readonly string[]).includes(stage));
  if (unknown.length) throw new Error(`WORKER_STAGES names unknown stages: ${unknown.join(', ')} (known: ${STAGES.join(', ')})`);
  return wanted as Stage[];
}

@Module({})
export class WorkerModule {
  static forRoot(config: WorkerConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [LoggerModule.forRoot(nestLoggerParams(config, 'worker')), CoreModule.forRoot(config), BullModule.registerQueue({ name: RETENTION_QUEUE })],
      providers: [
        ...WORKS,
        { provide: STAGE_WORKS, useFactory: (...works: unknown[]) => works, inject: WORKS },
        StageRunner,
        Reconciler,
        MomentRetention,
        RetentionProcessor,
        { provide: WebhookSigner, useFactory: () => new WebhookSigner(config.WEBHOOK_SECRET ?? []) },
        WebhookDelivery,
        WebhookProcessor,
        ...selectedStages(config).map((stage) => stageProcessor(stage, stageWorkerOptions(config, stage))),
      ],
      exports: [StageRunner, Reconciler, WebhookDelivery],
    };
  }
}
