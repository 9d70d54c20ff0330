import { buildForkServer } from '../libs/audio/src/io/ffmpeg-launcher';

/**
 * Builds the ffmpeg fork server (`libs/audio/src/io/ffmpeg-forkserver.c`) beside the compiled engine. Without a
 * C compiler the build goes on: the apps then start each ffmpeg run afresh, and say so when they start.
 */
buildForkServer().then(
  () => undefined,
  (error: Error & { code?: string; stderr?: string }) => {
    const reason = error.code === 'ENOENT' ? 'no C compiler (cc; set CC to use another)' : (error.stderr?.trim() ?? error.message);
    process.stderr.write(`ffmpeg fork server not built, each ffmpeg run will start afresh: ${reason}\n`);
  },
);
