import { Global, Injectable, Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { TypeOrmModule } from '@nestjs/typeorm';
import { stopFfmpegLauncher } from '@mcm/audio/io/ffmpeg';
import { STAGES } from '@mcm/pipeline';
import { APP_CONFIG, type CoreConfig } from './config';
import { dataSourceOptions } from './database/database';
import { ElevenLabsClient } from './elevenlabs/elevenlabs.client';
import { MusicToolsClient } from './mcp/music-tools.client';
import { MomentLifecycle } from './moments/moment-lifecycle.service';
import { MomentsRepository } from './moments/moments.repository';
import { OUTBOUND_ALLOW_PRIVATE_WARNING, OutboundGuard } from './outbound/outbound-guard';
import { redisOptions } from './queue/redis-connection';
import { StageQueue, stageQueueName } from './queue/stage-queue';
import { WEBHOOK_QUEUE, WebhookQueue } from './queue/webhook-queue';
import { MomentViewBuilder } from './moments/moment-view';
import { AppMetrics } from './observability/metrics';
import { stopTracing } from './observability/tracing';
import { WebhookDeliveriesRepository } from './webhooks/webhook-deliveries.repository';
import { usesPathStyle } from './storage/presigned-url';
import { StorageRepository } from './storage/storage.repository';

export function storageFromConfig(config: CoreConfig): StorageRepository {
  return new StorageRepository({
    endpoint: config.S3_ENDPOINT,
    region: config.S3_REGION,
    bucket: config.S3_BUCKET,
    accessKeyId: config.S3_ACCESS_KEY_ID,
    secretAccessKey: config.S3_SECRET_ACCESS_KEY,
    forcePathStyle: usesPathStyle(config),
    presignTtlSeconds: config.PRESIGN_TTL_SECONDS,
  });
}

/** Sends the spans still buffered when the app shuts down (a no-op with tracing off). */
@Injectable()
class TracingShutdown implements OnApplicationShutdown {
  onApplicationShutdown(): Promise<void> {
    return stopTracing();
  }
}

/**
 * Stops the app's ffmpeg fork server (a no-op without one) as the app shuts down, after the stage workers have
 * finished their jobs in hand: its socket's directory goes with it.
 */
@Injectable()
class FfmpegForkServerShutdown implements OnApplicationShutdown {
  onApplicationShutdown(): Promise<void> {
    return stopFfmpegLauncher();
  }
}

/** Everything the api and the worker share: configuration, Postgres, the stage queues, storage, music-tools. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: CoreConfig): DynamicModule {
    return {
      module: CoreModule,
      imports: [
        TypeOrmModule.forRoot({ ...dataSourceOptions(config.DATABASE_URL), retryAttempts: 3, retryDelay: 1000 }),
        BullModule.forRoot({ connection: redisOptions(config.REDIS_URL), prefix: config.QUEUE_PREFIX }),
        BullModule.registerQueue(...STAGES.map((stage) => ({ name: stageQueueName(stage) })), { name: WEBHOOK_QUEUE }),
      ],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        // One registry per app: what its /metrics serves.
        { provide: AppMetrics, useValue: new AppMetrics() },
        TracingShutdown,
        FfmpegForkServerShutdown,
        { provide: StorageRepository, useFactory: () => storageFromConfig(config) },
        {
          provide: MusicToolsClient,
          useFactory: () => new MusicToolsClient({ baseUrl: config.MCP_BASE_URL, authToken: config.MCP_AUTH_TOKEN }),
        },
        {
          provide: OutboundGuard,
          useFactory: () => {
            if (config.OUTBOUND_ALLOW_PRIVATE) new Logger('Outbound').warn(OUTBOUND_ALLOW_PRIVATE_WARNING);
            return new OutboundGuard({ allowPrivate: config.OUTBOUND_ALLOW_PRIVATE });
          },
        },
        {
          // Always provided; `enabled` is false without ELEVENLABS_API_KEY and the local engines render.
          provide: ElevenLabsClient,
          inject: [OutboundGuard],
          useFactory: (outbound: OutboundGuard) =>
            new ElevenLabsClient({
              apiKey: config.ELEVENLABS_API_KEY,
              baseUrl: config.ELEVENLABS_BASE_URL,
              defaultVoiceId: config.ELEVENLABS_DEFAULT_VOICE_ID,
              speechTimeoutMs: config.ELEVENLABS_TIMEOUT_MS,
              musicTimeoutMs: config.ELEVENLABS_MUSIC_TIMEOUT_MS,
              outbound,
            }),
        },
        MomentsRepository,
        WebhookDeliveriesRepository,
        StageQueue,
        WebhookQueue,
        MomentLifecycle,
        MomentViewBuilder,
      ],
      exports: [
        APP_CONFIG,
        AppMetrics,
        StorageRepository,
        MusicToolsClient,
        ElevenLabsClient,
        OutboundGuard,
        MomentsRepository,
        WebhookDeliveriesRepository,
        StageQueue,
        WebhookQueue,
        MomentLifecycle,
        MomentViewBuilder,
        BullModule,
      ],
    };
  }
}
