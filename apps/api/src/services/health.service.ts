import { Injectable, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import { ffmpegBinary } from '@mcm/audio';
import { MomentsRepository, MusicToolsClient, StageQueue, StorageRepository } from '@mcm/core';
import { CheckState, type FfmpegSource, type ReadinessChecksDto, type ReadinessDto } from '../dtos/health.dto';
import { AppError } from '../problem/app-error';

/** A dependency that hangs counts as down: queue commands wait for Redis forever by design. */
const CHECK_TIMEOUT_MS = 3_000;

@Injectable()
export class HealthService {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly moments: MomentsRepository,
    private readonly queue: StageQueue,
    private readonly storage: StorageRepository,
    private readonly musicTools: MusicToolsClient,
  ) {}

  /** Every dependency the API needs to take work; 503 with the states when one is down. */
  async readiness(): Promise<ReadinessDto> {
    const dependencies: Record<keyof ReadinessChecksDto, () => Promise<boolean>> = {
      database: () => this.moments.isReachable(),
      redis: () => this.queue.isReachable(),
      storage: () => this.storage.isReachable(),
      music_tools: () => this.musicTools.health(),
    };
    const indicators = Object.entries(dependencies).map(
      ([name, isReachable]) =>
        () =>
          this.indicators
            .check(name)
            .attempt(async () => {
              if (!(await isReachable())) throw new Error(`${name} does not answer`);
            })
            .withTimeout(CHECK_TIMEOUT_MS),
    );
    let result: HealthCheckResult;
    try {
      result = await this.health.check(indicators);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      result = error.getResponse() as HealthCheckResult;
    }
    const state = (name: string) => (result.details[name]?.status === 'up' ? CheckState.Up : CheckState.Down);
    // The path stays in the start-up log: where the app is installed is no business of an anonymous caller.
    const { version, source } = ffmpegBinary();
    const report: ReadinessDto = {
      status: 'ok',
      checks: { database: state('database'), redis: state('redis'), storage: state('storage'), music_tools: state('music_tools') },
      ffmpeg: { version, source: source as FfmpegSource },
    };
    if (Object.values(report.checks).some((check) => check === CheckState.Down)) {
      report.status = 'error';
      throw new ReadinessError(report);
    }
    return report;
  }
}

/** Not ready: answered as 503 with the same shape as a healthy report, so probes can read which check failed. */
export class ReadinessError extends AppError {
  constructor(public readonly report: ReadinessDto) {
    const down = Object.entries(report.checks)
      .filter(([, state]) => state === CheckState.Down)
      .map(([name]) => name);
    super(503, 'NOT_READY', `Unavailable: ${down.join(', ')}.`, { headers: { 'Retry-After': '5' }, extensions: { checks: report.checks, ffmpeg: report.ffmpeg } });
  }
}
