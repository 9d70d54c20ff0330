import { Module, ValidationPipe, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { ThrottlerModule } from '@nestjs/throttler';
import { LoggerModule } from 'nestjs-pino';
import { APP_CONFIG, CoreModule, MomentChangeFeed, nestLoggerParams, type ApiConfig } from '@mcm/core';
import { AdminController } from './controllers/admin.controller';
import { CompatController } from './controllers/compat.controller';
import { HealthController } from './controllers/health.controller';
import { MetricsController } from './controllers/metrics.controller';
import { MomentEventsController } from './controllers/moment-events.controller';
import { MomentsController } from './controllers/moments.controller';
import { AdminGuard } from './guards/admin.guard';
import { ApiKeyGuard } from './guards/api-key.guard';
import { CREATE_THROTTLER, CreateRateLimitGuard } from './guards/create-rate-limit.guard';
import { InFlightLimitGuard } from './guards/in-flight-limit.guard';
import { MetricsGuard } from './guards/metrics.guard';
import { EntityTagInterceptor } from './http/entity-tag';
import { IdempotencyKeyGuard } from './http/idempotency-key';
import { UploadInterceptor } from './http/upload.interceptor';
import { ProblemDetailsFilter } from './problem/problem-details.filter';
import { validationProblem } from './problem/validation';
import { RedisThrottlerStorage } from './rate-limit/redis-throttler.storage';
import { AdminService } from './services/admin.service';
import { HealthService } from './services/health.service';
import { MetricsService } from './services/metrics.service';
import { MomentEventsService } from './services/moment-events.service';
import { MomentViewService } from './services/moment-view.service';
import { MomentWaitService } from './services/moment-wait.service';
import { MomentsService } from './services/moments.service';
import { UploadService } from './services/upload.service';

/** The HTTP app: `/v1` endpoints, admin, health and docs over the shared core. */
@Module({})
export class ApiModule {
  static forRoot(config: ApiConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        LoggerModule.forRoot(nestLoggerParams(config, 'api')),
        CoreModule.forRoot(config),
        // The 503 answer names the failing checks; terminus logging them again would only add noise.
        TerminusModule.forRoot({ logger: false }),
        ThrottlerModule.forRootAsync({
          inject: [APP_CONFIG],
          useFactory: (appConfig: ApiConfig) => ({
            throttlers: [{ name: CREATE_THROTTLER, ttl: 60_000, limit: appConfig.RATE_LIMIT_CREATE_PER_MINUTE }],
            storage: new RedisThrottlerStorage(appConfig.REDIS_URL, appConfig.QUEUE_PREFIX),
          }),
        }),
      ],
      controllers: [MomentsController, MomentEventsController, CompatController, AdminController, HealthController, MetricsController],
      providers: [
        MomentsService,
        UploadService,
        MomentViewService,
        MomentEventsService,
        MomentWaitService,
        { provide: MomentChangeFeed, useFactory: () => new MomentChangeFeed(config.DATABASE_URL) },
        AdminService,
        HealthService,
        MetricsService,
        AdminGuard,
        MetricsGuard,
        ApiKeyGuard,
        CreateRateLimitGuard,
        InFlightLimitGuard,
        IdempotencyKeyGuard,
        UploadInterceptor,
        EntityTagInterceptor,
        { provide: APP_FILTER, useClass: ProblemDetailsFilter },
        {
          provide: APP_PIPE,
          useValue: new ValidationPipe({
            whitelist: true,
            forbidNonWhitelisted: true,
            transform: true,
            exceptionFactory: (errors) => validationProblem(errors),
          }),
        },
      ],
    };
  }
}
