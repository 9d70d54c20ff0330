import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processCpuMs, processTreeCpuMs } from './process-cpu';
import { analyzeAudio, composeBlueprint, mixAndMaster, renderInstrumental, renderVocals, writeArrangementMidi } from '@mcm/audio';

export interface EngineMoment {
  /** Wall time of the critical path: analyze + compose + max(vocals, instrumental) + mix (with the MIDI and peaks). */
  critical_path_ms: number;
  steps_ms: { analyze: number; compose: number; renders: number; mix: number };
  /** CPU of this process (every thread) and of the ffmpeg processes the engine ran. */
  cpu_ms: { own: number; ffmpeg: number };
}

/**
 * One moment's engine work in this process, the stages' own functions on the same clip and style as the stack
 * gets, with no queue, database, storage or MCP between them. Call it after the stack has stopped: the CPU of
 * every process below this one counts as the engine's ffmpeg.
 */
export async function runEngineMoment(input: string, format: string, style: string): Promise<EngineMoment> {
  const dir = await mkdtemp(join(tmpdir(), 'mcm-bench-engine-'));
  const before = processCpuMs();
  // ffmpeg's CPU reaches this process's count when a run is waited for, or sits with the fork server until it exits.
  const beforeBelow = processTreeCpuMs(process.pid) - before.own;
  try {
    let mark = performance.now();
    const lap = () => {
      const now = performance.now();
      const elapsed = now - mark;
      mark = now;
      return elapsed;
    };
    const analysis = await analyzeAudio(input, format);
    const analyze = lap();
    const blueprint = composeBlueprint(analysis, { momentId: 'bench-engine', style, outputKind: 'preview' });
    const compose = lap();
    const instrumental = join(dir, 'instrumental.wav');
    const vocals = join(dir, 'vocals.wav');
    await Promise.all([renderVocals(input, blueprint, analysis, vocals, { format }), renderInstrumental(blueprint, instrumental)]);
    const renders = lap();
    await Promise.all([
      mixAndMaster({ blueprint, instrumental, vocals, outPreviewMp3: join(dir, 'preview.mp3'), outMasterWav: join(dir, 'master.wav'), outPeaksJson: join(dir, 'peaks.json') }),
      writeArrangementMidi(blueprint, join(dir, 'arrangement.mid')),
    ]);
    const mix = lap();
    const after = processCpuMs();
    const afterBelow = processTreeCpuMs(process.pid) - after.own;
    return {
      critical_path_ms: analyze + compose + renders + mix,
      steps_ms: { analyze, compose, renders, mix },
      cpu_ms: { own: after.own - before.own, ffmpeg: afterBelow - beforeBelow },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
