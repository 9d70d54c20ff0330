import { ffmpegInput, runFfmpeg } from '../io/ffmpeg';

export interface LoudnessReport {
  integrated_lufs: number;
  true_peak_dbtp: number;
  lra: number;
}

/** EBU R128 integrated loudness, true peak and loudness range of a file (read as `format`), measured by ffmpeg's ebur128. */
export async function measureLoudness(file: string, format: string): Promise<LoudnessReport> {
  const { stderr } = await runFfmpeg(['-nostats', ...ffmpegInput(file, format), '-map', '0:a:0', '-af', 'ebur128=peak=true', '-f', 'null', '-']);
  return parseEbur128(stderr);
}

/** Reads the summary block ebur128 prints at the end; silence reports −70 LUFS and −inf peak. */
export function parseEbur128(stderr: string): LoudnessReport {
  const summary = stderr.slice(stderr.lastIndexOf('Summary:'));
  const integrated = /I:\s+(-?[\d.]+|-inf) LUFS/.exec(summary)?.[1];
  const lra = /LRA:\s+(-?[\d.]+) LU/.exec(summary)?.[1];
  const peak = /True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS/.exec(summary)?.[1];
  return {
    integrated_lufs: toNumber(integrated, -70),
    true_peak_dbtp: toNumber(peak, -120),
    lra: toNumber(lra, 0),
  };
}

function toNumber(text: string | undefined, floor: number): number {
  if (text === undefined || text === '-inf') return floor;
  const value = Number(text);
  return Number.isFinite(value) ? Math.max(value, floor) : floor;
}
