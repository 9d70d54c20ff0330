import { Injectable } from '@nestjs/common';
import { ffmpegBinary } from '@mcm/audio';
import { MomentsRepository, MusicToolsClient, StageQueue, StorageRepository } from '@mcm/core';
import { CheckState, type FfmpegSource, type ReadinessDto } from '../dtos/health.dto';
import { AppError } from '../problem/app-error';

const CHECK_TIMEOUT_MS = 3_000;

/** A dependency that hangs counts as down: queue commands wait for Redis forever by design. */
async function probe(check: () => Promise<boolean>): Promise<CheckState> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS);
  });
  try {
    return (await Promise.race([check().catch(() => false), timeout])) ? CheckState.Up : CheckState.Down;
  } finally {
    clearTimeout(timer);
  }
}

@Injectable()
export class HealthService {
  constructor(
    private readonly moments: MomentsRepository,
    private readonly queue: StageQueue,
    private readonly storage: StorageRepository,
    private readonly musicTools: MusicToolsClient,
  ) {}

  /** Every dependency the API needs to take work; 503 with the states when one is down. */
  async readiness(): Promise<ReadinessDto> {
    const [database, redis, storage, music_tools] = await Promise.all([
      probe(() => this.moments.isReachable()),
      probe(() => this.queue.isReachable()),
      probe(() => this.storage.isReachable()),
      probe(() => this.musicTools.health()),
    ]);
    // The path stays in the start-up log: where the app is installed is no business of an anonymous caller.
    const { version, source } = ffmpegBinary();
    const report: ReadinessDto = { status: 'ok', checks: { database, redis, storage, music_tools }, ffmpeg: { version, source: source as FfmpegSource } };
    if (Object.values(report.checks).some((state) => state === CheckState.Down)) {
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
