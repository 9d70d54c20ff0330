import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { blueprintDurationSeconds } from '@mcm/pipeline';
import { analyzeAudio } from '../analysis/analysis';
import { composeBlueprint } from '../score/compose';
import { closeAudioWorkers } from '../dsp.pool';
import { AudioError } from '../audio-error';
import { ffmpegInput, runFfmpeg } from '../io/ffmpeg';
import { renderInstrumental } from '../render/instrumental';
import { measureLoudness } from './loudness';
import { mixAndMaster } from './mix';
import { probeAudio } from '../io/probe';
import { hookSections, renderVocals, vocalEntryBeat } from '../render/vocals';
import { powerSpectrum, spanLoudness } from './balance';
import { decodeWav16, encodeWav16 } from '../io/wav';
import { heardShare } from '../../../../test/support/voice-agreement';

const fixtures = path.resolve(__dirname, '../../../../test/fixtures');

const workdirs: string[] = [];
afterAll(async () => {
  await closeAudioWorkers();
  await Promise.all(workdirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

function rms(samples: Float32Array, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / Math.max(1, to - from));
}

describe('the hum-phone fixture through the whole engine', () => {
  it('analyse → compose → vocals + instrumental → mix gives a mastered preview', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-mix-'));
    workdirs.push(dir);
    const input = path.join(fixtures, 'hum-phone.m4a');
    const analysis = await analyzeAudio(input, 'mov');
    const blueprint = composeBlueprint(analysis, { momentId: 'mix-test', title: 'Hum', outputKind: 'preview' });
    const expectedSeconds = blueprintDurationSeconds(blueprint);
    const frames = Math.round(expectedSeconds * 44100);

    const vocals = path.join(dir, 'vocals.wav');
    const instrumental = path.join(dir, 'instrumental.wav');
    const [vocalResult, instrumentalResult] = await Promise.all([renderVocals(input, blueprint, analysis, vocals, { format: 'mov' }), renderInstrumental(blueprint, instrumental)]);
    expect(vocalResult.duration_s).toBeCloseTo(expectedSeconds, 4);
    expect(instrumentalResult.duration_s).toBeCloseTo(expectedSeconds, 4);

    const voice = decodeWav16(await readFile(vocals));
    expect(voice.sampleRate).toBe(44100);
    expect(voice.channels).toHaveLength(2);
    expect(voice.channels[0].length).toBe(frames);
    // The voice is heard (within 20 dB of its peak-ish level, the 95th percentile of 50 ms windows) over at least half the preview.
    const heard = heardShare(voice.channels[0]);
    process.stdout.write(`voice heard over ${(heard.share * 100).toFixed(1)} % of the preview\n`);
    expect(heard.share).toBeGreaterThanOrEqual(0.5);
    const entry = Math.round(((vocalEntryBeat(blueprint) * 60) / blueprint.tempo_bpm) * 44100);
    expect(entry).toBeGreaterThan(0);
    // Silence before the entry, the (normalised, no longer −45 LUFS) voice after it.
    expect(rms(voice.channels[0], 0, entry)).toBe(0);
    expect(20 * Math.log10(rms(voice.channels[0], entry, Math.min(frames, entry + 44100 * 6)))).toBeGreaterThan(-32);

    // In every hook the voice sits 0 to +6 LU over the band (EBU R128 on the two stems).
    const secondsPerBeat = 60 / blueprint.tempo_bpm;
    const hooks = hookSections(blueprint).map((hook) => ({ from_s: hook.startBeat * secondsPerBeat, to_s: (hook.startBeat + hook.beats) * secondsPerBeat }));
    const [voiceLufs, bandLufs] = await Promise.all([spanLoudness(vocals, 'wav', hooks), spanLoudness(instrumental, 'wav', hooks)]);
    const over = voiceLufs.map((lufs, index) => lufs - bandLufs[index]);
    process.stdout.write(`voice over band in the hooks: ${over.map((lu) => lu.toFixed(1)).join(', ')} LU\n`);
    expect(over.length).toBeGreaterThan(0);
    for (const lu of over) {
      expect(lu).toBeGreaterThanOrEqual(0);
      expect(lu).toBeLessThanOrEqual(6);
    }

    // Between the phone take's phrases the floor sits ≥ 30 dB under its voice (10th against 90th percentile of 50 ms windows in the hooks).
    const windows: number[] = [];
    for (const hook of hooks) {
      for (let start = Math.round(hook.from_s * 44100); start + 2205 <= Math.min(frames, Math.round(hook.to_s * 44100)); start += 2205) {
        const level = 20 * Math.log10(rms(voice.channels[0], start, start + 2205) + 1e-9);
        if (level > -119) windows.push(level);
      }
    }
    windows.sort((a, b) => a - b);
    const floorDb = windows[Math.floor(windows.length * 0.9)] - windows[Math.floor(windows.length * 0.1)];
    process.stdout.write(`phone take: floor between phrases ${floorDb.toFixed(1)} dB under the voice\n`);
    expect(floorDb).toBeGreaterThanOrEqual(30);

    const outPreviewMp3 = path.join(dir, 'preview.mp3');
    const outMasterWav = path.join(dir, 'master.wav');
    const outPeaksJson = path.join(dir, 'peaks.json');
    const report = await mixAndMaster({ blueprint, instrumental, vocals, outPreviewMp3, outMasterWav, outPeaksJson });

    const measured = await measureLoudness(outPreviewMp3, 'mp3');
    expect(Math.abs(measured.integrated_lufs - -14)).toBeLessThanOrEqual(1);
    expect(measured.true_peak_dbtp).toBeLessThanOrEqual(-1);
    // The report is the master's, metered as it is written; the MP3 stays within the encoder's headroom of it.
    expect(Math.abs(report.loudness_lufs - measured.integrated_lufs)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(report.true_peak_dbtp - measured.true_peak_dbtp)).toBeLessThanOrEqual(0.5);
    expect(report.duration_ms).toBe(Math.round(expectedSeconds * 1000));

    const mp3 = await probeAudio(outPreviewMp3, { format: 'mp3' });
    expect(mp3).toMatchObject({ codec: 'mp3', sample_rate: 44100, channels: 2 });
    expect(Math.abs(mp3.duration_s - expectedSeconds)).toBeLessThanOrEqual(0.05);

    const master = await probeAudio(outMasterWav, { format: 'wav' });
    expect(master).toMatchObject({ codec: 'pcm_s16le', sample_rate: 44100, channels: 2 });
    expect(decodeWav16(await readFile(outMasterWav)).channels[0].length).toBe(frames);
    const masterLoudness = await measureLoudness(outMasterWav, 'wav');
    expect(Math.abs(masterLoudness.integrated_lufs - -14)).toBeLessThanOrEqual(1);
    expect(masterLoudness.true_peak_dbtp).toBeLessThanOrEqual(-1);

    const peaks = JSON.parse(await readFile(outPeaksJson, 'utf8')) as { length: number; samples_per_pixel: number; data: number[] };
    expect(peaks.length).toBe(Math.ceil(frames / peaks.samples_per_pixel));
    expect(peaks.data).toHaveLength(peaks.length * 2);
    expect(Math.max(...peaks.data)).toBeGreaterThan(32);

    // The fade-out leaves the last moments much quieter than the chorus.
    const mastered = decodeWav16(await readFile(outMasterWav)).channels[0];
    expect(rms(mastered, frames - 4410, frames)).toBeLessThan(rms(mastered, entry, entry + 44100 * 4) / 10);
  });

  /** A lofi band rendered from the clean take, alone, in a fresh directory. */
  async function lofiInstrumental(momentId: string) {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-mix-'));
    workdirs.push(dir);
    const analysis = await analyzeAudio(path.join(fixtures, 'voice-clean.wav'), 'wav');
    const blueprint = composeBlueprint(analysis, { momentId, style: 'lofi', outputKind: 'preview' });
    const instrumental = path.join(dir, 'instrumental.wav');
    await renderInstrumental(blueprint, instrumental);
    return { dir, blueprint, instrumental };
  }

  it('masters an instrumental on its own', async () => {
    const { dir, blueprint, instrumental } = await lofiInstrumental('solo');
    const report = await mixAndMaster({ blueprint, instrumental, vocals: null, outPreviewMp3: path.join(dir, 'p.mp3'), outMasterWav: path.join(dir, 'm.wav') });
    expect(Math.abs(report.loudness_lufs - -14)).toBeLessThanOrEqual(1);
    expect(report.true_peak_dbtp).toBeLessThanOrEqual(-1);
    const mp3 = await probeAudio(path.join(dir, 'p.mp3'), { format: 'mp3' });
    expect(Math.abs(mp3.duration_s - blueprintDurationSeconds(blueprint))).toBeLessThanOrEqual(0.05);
  });

  // Alone, the premix is made in two halves side by side and the master in two runs; beside another mix, each in one run.
  it.each([
    ['an instrumental', null],
    ["a voice over an instrumental (a 48 kHz mono WAV, brought to the stems' format)", path.join(fixtures, 'voice-clean.wav')],
  ])('makes the same files from %s when the mix is the only one in the process and beside another', async (_, vocals) => {
    const { dir, blueprint, instrumental } = await lofiInstrumental('alone-or-not');
    const outputs = (name: string) => ({ outPreviewMp3: path.join(dir, `${name}.mp3`), outMasterWav: path.join(dir, `${name}.wav`) });
    await mixAndMaster({ blueprint, instrumental, vocals, ...outputs('alone') });
    await Promise.all(['first', 'second'].map((name) => mixAndMaster({ blueprint, instrumental, vocals, ...outputs(name) })));
    const [alone, first, second] = await Promise.all(['alone', 'first', 'second'].map(async (name) => [await readFile(path.join(dir, `${name}.mp3`)), await readFile(path.join(dir, `${name}.wav`))]));
    expect(alone[0].length).toBeGreaterThan(100_000);
    for (const other of [first, second]) {
      expect(other[0].equals(alone[0])).toBe(true);
      expect(other[1].equals(alone[1])).toBe(true);
    }
  });

  it('fails with the error of the master run that failed, not with the stop of the one beside it', async () => {
    const { dir, blueprint, instrumental } = await lofiInstrumental('unwritable');
    const error = await mixAndMaster({ blueprint, instrumental, vocals: null, outPreviewMp3: path.join(dir, 'missing', 'p.mp3'), outMasterWav: path.join(dir, 'm.wav') }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(AudioError);
    expect(error).toMatchObject({ code: 'AUDIO_ENGINE_FAILED' });
    expect((error as AudioError).message).toMatch(/No such file or directory/);
  });

  describe('decodes stems only as the WAV files the pipeline writes', () => {
    const blueprint = {
      id: 'stems',
      style: 'lofi',
      tempo_bpm: 120,
      key: 'Am',
      time_signature: '4/4',
      sections: [{ name: 'hook', bars: 2, energy: 0.8 }],
      lyrics: 'la',
      voice: { voice_id: 'local' },
      metadata: {},
    };
    let dir: string;
    let instrumental: string;
    let elsewhere: string;

    const mixWithVocals = (vocals: string) =>
      mixAndMaster({ blueprint, instrumental, vocals, outPreviewMp3: path.join(dir, 'p.mp3'), outMasterWav: path.join(dir, 'm.wav') }).then(
        () => null,
        (error: unknown) => error,
      );

    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'mcm-mix-'));
      workdirs.push(dir);
      instrumental = path.join(dir, 'instrumental.wav');
      await renderInstrumental(blueprint, instrumental);
      // A recording on the same disk, in a container every ffmpeg follows from a playlist.
      elsewhere = path.join(dir, 'elsewhere.mp3');
      await runFfmpeg([...ffmpegInput(path.join(fixtures, 'voice-clean.wav'), 'wav'), '-c:a', 'libmp3lame', '-y', elsewhere]);
    });

    it('an HLS playlist naming a local recording is refused, not followed', async () => {
      const playlist = path.join(dir, 'vocals.m3u8');
      await writeFile(playlist, `#EXTM3U\n#EXT-X-TARGETDURATION:20\n#EXTINF:20,\n${elsewhere}\n#EXT-X-ENDLIST\n`);
      expect(await mixWithVocals(playlist)).toMatchObject({ code: 'AUDIO_UNDECODABLE', retryable: false });
    });

    it('an ffconcat script naming a recording beside it is refused, not followed', async () => {
      const script = path.join(dir, 'vocals.ffconcat');
      await writeFile(script, `ffconcat version 1.0\nfile ${path.basename(elsewhere)}\n`);
      expect(await mixWithVocals(script)).toMatchObject({ code: 'AUDIO_UNDECODABLE', retryable: false });
    });

    it('an MP3 given as a stem is refused, whatever its name says', async () => {
      const renamed = path.join(dir, 'vocals-mp3.wav');
      await copyFile(elsewhere, renamed);
      expect(await mixWithVocals(renamed)).toMatchObject({ code: 'AUDIO_UNDECODABLE', retryable: false });
    });
  });
});

describe('ducking under the voice', () => {
  it('dips only 300 Hz–4 kHz of the backing, by about 3 dB, while the voice sounds', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-mix-'));
    workdirs.push(dir);
    // 16 s at 120 BPM: a steady noise backing, and a 1 kHz "voice" from 8 s to 12 s only.
    const blueprint = {
      id: 'duck',
      style: 'lofi',
      tempo_bpm: 120,
      key: 'C',
      time_signature: '4/4',
      sections: [{ name: 'hook', bars: 8, energy: 0.8 }],
      lyrics: 'la',
      voice: { voice_id: 'local' },
      metadata: {},
    };
    const rate = 44100;
    const frames = 16 * rate;
    const noise = new Float32Array(frames);
    let seed = 7;
    for (let i = 0; i < frames; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      noise[i] = 0.15 * (seed / 2 ** 30 - 1);
    }
    const voice = new Float32Array(frames);
    for (let i = 8 * rate; i < 12 * rate; i++) voice[i] = 0.15 * Math.sin((2 * Math.PI * 1000 * i) / rate);
    const instrumental = path.join(dir, 'instrumental.wav');
    const vocals = path.join(dir, 'vocals.wav');
    await writeFile(instrumental, encodeWav16([noise, noise], rate));
    await writeFile(vocals, encodeWav16([voice, voice], rate));
    const outMasterWav = path.join(dir, 'm.wav');
    await mixAndMaster({ blueprint, instrumental, vocals, outPreviewMp3: path.join(dir, 'p.mp3'), outMasterWav });

    const mastered = decodeWav16(await readFile(outMasterWav)).channels[0];
    const bandDb = (from_s: number, to_s: number, lowHz: number, highHz: number) => {
      const power = powerSpectrum(mastered.subarray(from_s * rate, to_s * rate));
      let sum = 0;
      power.forEach((value, bin) => {
        const hz = (bin * rate) / 4096;
        if (hz >= lowHz && hz < highHz) sum += value;
      });
      return 10 * Math.log10(sum);
    };
    // The voice-free parts of each band, before the voice (3–6 s) and under it (9–11.5 s).
    const lowDip = bandDb(3, 6, 40, 200) - bandDb(9, 11.5, 40, 200);
    const midDip = bandDb(3, 6, 1500, 3000) - bandDb(9, 11.5, 1500, 3000);
    const highDip = bandDb(3, 6, 6000, 12000) - bandDb(9, 11.5, 6000, 12000);
    process.stdout.write(`backing dip under the voice: < 200 Hz ${lowDip.toFixed(1)} dB, 1.5–3 kHz ${midDip.toFixed(1)} dB, 6–12 kHz ${highDip.toFixed(1)} dB\n`);
    // The master's own compressor moves the whole mix alike when the voice comes in; the ducking is what the band dips beyond that.
    const outside = (lowDip + highDip) / 2;
    expect(Math.abs(lowDip - highDip)).toBeLessThanOrEqual(1);
    expect(Math.abs(outside)).toBeLessThanOrEqual(2);
    expect(midDip - outside).toBeGreaterThanOrEqual(2);
    expect(midDip - outside).toBeLessThanOrEqual(4.5);
  });
});
