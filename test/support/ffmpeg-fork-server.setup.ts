import { afterAll, beforeAll } from 'vitest';
import { startFfmpegLauncher, stopFfmpegLauncher } from '../../libs/audio/src/io/ffmpeg';
import { forkServerForTests } from './ffmpeg-fork-server';

// Specs that decode and render run ffmpeg as the apps do: forked from a fork server, not started afresh.
beforeAll(async () => {
  await startFfmpegLauncher(await forkServerForTests());
});

afterAll(() => stopFfmpegLauncher());
