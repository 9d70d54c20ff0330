import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blueprintDurationSeconds, type Analysis, type Blueprint } from '@mcm/pipeline';
import { closeAudioWorkers } from '../dsp.pool';
import { ffmpegBinary, ffmpegInput, ffmpegMajor, runFfmpeg } from '../io/ffmpeg';
import { parseKey } from '../analysis/harmony';
import { midiToHz, pitchContour } from '../analysis/pitch';
import { hookSections, renderVocals, speechSection, vocalEntryBeat, vocalSections } from './vocals';
import { thirdAbove } from './voice-tuning';
import { composeBlueprint } from '../score/compose';
import { arrange } from '../score/arrange';
import { quantisePhrase } from '../score/melody';
import { tickSeconds } from '../score/score';
import { renderScore } from './sampler';
import { heardShare, onScoreOctave, onsetsNear, pitchAgreement, pitchFrames } from '../../../../test/support/voice-agreement';
import { testSoundBank } from '../../../../test/support/render';
import { powerSpectrum } from '../mix/balance';
import { decodeWav16, encodeWav16 } from '../io/wav';

afterAll(async () => {
  await closeAudioWorkers();
});

const RATE = 44100;
// C major; every note is sung 35–45 cents off a scale tone, on both sides.
const SUNG = [
  { midi: 60.4, onset: 0.2 },
  { midi: 64 - 0.42, onset: 0.8 },
  { midi: 67.38, onset: 1.4 },
  { midi: 65 - 0.37, onset: 2.0 },
  { midi: 62.45, onset: 2.6 },
];
const NOTE_SECONDS = 0.5;

/** A hum: a fundamental with decaying harmonics and a soft attack, one note after another. */
function synthHum(): Float32Array {
  const out = new Float32Array(Math.round(3.4 * RATE));
  for (const note of SUNG) {
    const hz = 440 * 2 ** ((note.midi - 69) / 12);
    const from = Math.round(note.onset * RATE);
    const length = Math.round(NOTE_SECONDS * RATE);
    for (let i = 0; i < length; i++) {
      const envelope = Math.min(1, i / 400, (length - i) / 400);
      let value = 0;
      for (let h = 1; h <= 4; h++) value += Math.sin((2 * Math.PI * hz * h * i) / RATE) / h;
      out[from + i] = 0.2 * envelope * value;
    }
  }
  return out;
}

const blueprint: Blueprint = {
  id: 'vocals-test',
  style: 'anthem',
  tempo_bpm: 120,
  key: 'C',
  time_signature: '4/4',
  sections: [
    { name: 'intro', bars: 1, energy: 0.3 },
    { name: 'verse', bars: 2, energy: 0.5 },
    { name: 'chorus', bars: 2, energy: 0.9 },
    { name: 'bridge', bars: 1, energy: 0.5 },
    { name: 'chorus', bars: 2, energy: 0.9 },
  ],
  lyrics: 'This is my moment',
  voice: { voice_id: 'local-voice' },
};

const analysis: Analysis = {
  duration_s: 3.4,
  sample_rate: RATE,
  channels: 1,
  loudness_lufs: -20,
  peak_dbfs: -8,
  voiced_start_s: 0.2,
  voiced_end_s: 3.1,
  median_pitch_hz: 330,
  notes: SUNG.map((note) => ({ midi: Math.round(note.midi), onset_s: note.onset, duration_s: NOTE_SECONDS })),
  tempo_bpm: 120,
  tempo_source: 'onsets',
  key: 'C',
  key_confidence: 0.8,
  energy: 0.5,
};

/** Median fractional MIDI pitch over the middle of each stable pitched run in a mono 8 kHz signal. */
function sungPitches(pcm: Float32Array, sampleRate: number): number[] {
  const contour = pitchContour(pcm, { sampleRate });
  const runs: number[][] = [];
  let current: number[] = [];
  for (const value of contour.midi) {
    if (Number.isNaN(value) || (current.length && Math.abs(value - current[current.length - 1]) > 0.5)) {
      if (current.length >= 15) runs.push(current);
      current = Number.isNaN(value) ? [] : [value];
    } else current.push(value);
  }
  if (current.length >= 15) runs.push(current);
  return runs.map((run) => {
    const middle = run.slice(Math.floor(run.length * 0.25), Math.ceil(run.length * 0.75)).sort((a, b) => a - b);
    return middle[middle.length >> 1];
  });
}

describe('vocal placement', () => {
  it('sings over the sections the arrangement or the names mark as hooks', () => {
    expect(hookSections(blueprint).map((hook) => hook.startBeat)).toEqual([12, 24]);
    // The two-bar verse carries the voice too; the one-bar bridge does not.
    expect(vocalSections(blueprint).map((section) => section.startBeat)).toEqual([4, 12, 24]);
    expect(vocalEntryBeat(blueprint)).toBe(4);
    expect(speechSection(blueprint).startBeat).toBe(4);
    const unnamed = { ...blueprint, sections: blueprint.sections.map((section, index) => ({ ...section, name: `part ${index}` })) };
    expect(hookSections(unnamed).map((hook) => hook.startBeat)).toEqual([12, 24]);
    const arranged = { ...blueprint, arrangement: [{}, { vocals: true }, {}, {}, {}] };
    expect(hookSections(arranged).map((hook) => hook.startBeat)).toEqual([4]);
    expect(vocalSections(arranged).map((hook) => hook.startBeat)).toEqual([4]);
  });

  it('harmonises a diatonic third above in the key', () => {
    const c = parseKey('C');
    expect([60, 62, 64, 65, 67, 69, 71].map((midi) => thirdAbove(midi, c) - midi)).toEqual([4, 3, 3, 4, 4, 3, 3]);
    expect(thirdAbove(57, parseKey('Am'))).toBe(60);
    expect(thirdAbove(66, parseKey('D'))).toBe(69);
  });
});

describe('renderVocals', () => {
  it('tunes every sung note to its target in the Score and sings the verse and each hook', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-vocals-'));
    try {
      const hum = path.join(dir, 'hum.wav');
      await writeFile(hum, encodeWav16([synthHum()], RATE));
      const out = path.join(dir, 'vocals.wav');
      const report = await renderVocals(hum, blueprint, analysis, out, { format: 'wav' });
      expect(report.duration_s).toBe(16);
      expect(report.hook_beats).toEqual([4, 12, 24]);
      expect(report.corrections_cents.every((cents) => Math.abs(cents) >= 30 && Math.abs(cents) <= 50)).toBe(true);

      const stem = decodeWav16(await readFile(out));
      expect(stem.sampleRate).toBe(RATE);
      expect(stem.channels).toHaveLength(2);
      expect(stem.channels[0].length).toBe(16 * RATE);
      // Silent outside the sung sections (beats 4–20 and 24–32 at 120 BPM: 2–10 s and 12–16 s), once the echo has rung out.
      const level = (from: number, to: number) => stem.channels[0].subarray(Math.round(from * RATE), Math.round(to * RATE)).reduce((peak, value) => Math.max(peak, Math.abs(value)), 0);
      expect(level(0, 1.99)).toBe(0);
      expect(level(10.5, 11.99)).toBeLessThan(0.001);
      expect(level(2, 5)).toBeGreaterThan(0.05);
      expect(level(6, 9)).toBeGreaterThan(0.05);
      expect(level(12, 15)).toBeGreaterThan(0.05);

      // The verse sings the phrase once, without the harmony: each note within 30 cents of its target.
      const targets = quantisePhrase(analysis, blueprint.tempo_bpm, parseKey(blueprint.key)).notes.map((note) => note.midi);
      const before = sungPitches(await decodeMono(hum), 8000);
      const after = sungPitches(await decodeMono(out, 2, 5.9), 8000);
      const off = (pitches: number[]) => pitches.map((pitch, index) => Math.round(Math.abs(pitch - targets[index]) * 100));
      expect(before).toHaveLength(SUNG.length);
      expect(off(before).every((cents) => cents >= 30)).toBe(true);
      expect(after).toHaveLength(SUNG.length);
      process.stdout.write(`cents off the Score's targets: sung ${off(before).join(', ')}; tuned ${off(after).join(', ')}\n`);
      expect(Math.max(...off(after))).toBeLessThanOrEqual(30);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// A hum as people hum: off the grid by 10–60 ms, 35–45 cents off, and each note scooped up from a semitone under over 80 ms.
const SCOOPED = [
  { midi: 60.4, onset: 0.23 },
  { midi: 64 - 0.4, onset: 0.71 },
  { midi: 67.38, onset: 1.27 },
  { midi: 65 - 0.37, onset: 1.79 },
  { midi: 62.45, onset: 2.28 },
  { midi: 60 - 0.42, onset: 2.74 },
];
const SCOOP_SECONDS = 0.08;
const SCOOPED_NOTE_SECONDS = 0.4;

function scoopedHum(): Float32Array {
  const out = new Float32Array(Math.round(3.4 * RATE));
  for (const note of SCOOPED) {
    const from = Math.round(note.onset * RATE);
    const length = Math.round(SCOOPED_NOTE_SECONDS * RATE);
    let phase = 0;
    for (let i = 0; i < length; i++) {
      const t = i / RATE;
      const midi = note.midi - Math.max(0, 1 - t / SCOOP_SECONDS);
      phase += (2 * Math.PI * midiToHz(midi)) / RATE;
      const envelope = Math.min(1, i / 200, (length - i) / 400);
      let value = 0;
      for (let h = 1; h <= 4; h++) value += Math.sin(h * phase) / h;
      out[from + i] = 0.2 * envelope * value;
    }
  }
  return out;
}

const scoopedAnalysis: Analysis = {
  ...analysis,
  voiced_start_s: 0.23,
  voiced_end_s: 3.14,
  notes: SCOOPED.map((note) => ({ midi: Math.round(note.midi), onset_s: note.onset, duration_s: SCOOPED_NOTE_SECONDS })),
};

describe('renderVocals on the Score', () => {
  const composed = composeBlueprint(scoopedAnalysis, { momentId: 'vocals-grid', style: 'cinematic', outputKind: 'preview' });
  const score = arrange(composed, scoopedAnalysis);
  const secondsPerBeat = 60 / composed.tempo_bpm;
  let dir = '';
  let voice: [Float32Array, Float32Array];
  let lead: Float32Array;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mcm-vocals-'));
    const hum = path.join(dir, 'hum.wav');
    await writeFile(hum, encodeWav16([scoopedHum()], RATE));
    const out = path.join(dir, 'vocals.wav');
    const frames = Math.round(blueprintDurationSeconds(composed) * RATE);
    // The lead alone: the Score with only its lead track, through the sampler.
    const [, leadStem] = await Promise.all([
      renderVocals(hum, composed, scoopedAnalysis, out, { format: 'wav' }),
      testSoundBank().then((bank) => renderScore({ ...score, tracks: score.tracks.filter((track) => track.role === 'lead') }, bank, frames, RATE)),
    ]);
    const stem = decodeWav16(await readFile(out));
    voice = [stem.channels[0], stem.channels[1]];
    lead = leadStem[0];
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('sings the pitches the lead plays, frame by frame', async () => {
    const hooks = hookSections(composed);
    expect(hooks.length).toBeGreaterThan(0);
    expect(score.melody.length).toBeGreaterThan(0);
    // The lead voice sits left, its harmony right: the left channel carries the lead voice.
    const [trackedLead, voicePitch] = await Promise.all([pitchFrames(lead), pitchFrames(voice[0])]);
    const leadPitch = onScoreOctave(
      trackedLead,
      score.melody.map((note) => ({ from_s: tickSeconds(score, note.tick), to_s: tickSeconds(score, note.tick + note.ticks), midi: note.midi })),
    );
    for (const hook of hooks) {
      const agreement = pitchAgreement(leadPitch, voicePitch, hook.startBeat * secondsPerBeat, (hook.startBeat + hook.beats) * secondsPerBeat);
      process.stdout.write(`hook at beat ${hook.startBeat}: ${agreement.agreeing} of ${agreement.both} frames where both sound agree within 50 cents (${(agreement.share * 100).toFixed(1)} %)\n`);
      expect(agreement.both).toBeGreaterThan(200);
      expect(agreement.share).toBeGreaterThanOrEqual(0.9);
    }
  });

  it("starts each note within 20 ms of the lead's", () => {
    const hooks = hookSections(composed);
    const onsets = score.melody
      .map((note) => tickSeconds(score, note.tick))
      .filter((at) => hooks.some((hook) => at >= hook.startBeat * secondsPerBeat && at < (hook.startBeat + hook.beats) * secondsPerBeat));
    const found = onsetsNear(voice[0], onsets);
    const errors = found.flatMap((at, index) => (at === null ? [] : [Math.round(Math.abs(at - onsets[index]) * 1000)]));
    process.stdout.write(`voice onsets against the lead's: ${errors.length} of ${onsets.length} found, errors ${errors.join(', ')} ms\n`);
    expect(errors.length).toBeGreaterThanOrEqual(onsets.length * 0.8);
    expect(Math.max(...errors)).toBeLessThanOrEqual(20);
  });

  it('doubles the hooks a third above in the key, and not the verse', () => {
    const key = parseKey(composed.key);
    const sections = score.sections.filter((section) => section.layers.vocals);
    const hooks = new Set(hookSections(composed).map((hook) => hook.index));
    const goertzel = (signal: Float32Array, from: number, length: number, hz: number) => {
      const coefficient = 2 * Math.cos((2 * Math.PI * hz) / RATE);
      let previous = 0;
      let earlier = 0;
      for (let i = 0; i < length; i++) {
        const current = signal[from + i] + coefficient * previous - earlier;
        earlier = previous;
        previous = current;
      }
      return previous ** 2 + earlier ** 2 - coefficient * previous * earlier;
    };
    // The harmony's level against the lead voice's at each phrase note, 40–200 ms into it, on the right channel (where the harmony sits).
    const harmonyDb = (section: { startBeat: number; beats: number }) => {
      const levels: number[] = [];
      for (const note of quantisePhrase(scoopedAnalysis, composed.tempo_bpm, key).notes) {
        for (let loop = section.startBeat; loop + note.start_beat < section.startBeat + section.beats; loop += 8) {
          const from = Math.round(((loop + note.start_beat) * secondsPerBeat + 0.04) * RATE);
          const length = Math.round(0.16 * RATE);
          const sung = goertzel(voice[1], from, length, midiToHz(note.midi));
          const third = goertzel(voice[1], from, length, midiToHz(thirdAbove(note.midi, key)));
          levels.push(10 * Math.log10(third / sung));
        }
      }
      return levels.sort((a, b) => a - b)[levels.length >> 1];
    };
    const verse = sections.filter((section) => !hooks.has(section.index));
    const chorus = sections.filter((section) => hooks.has(section.index));
    expect(verse.length).toBeGreaterThan(0);
    expect(chorus.length).toBeGreaterThan(0);
    const inVerse = verse.map(harmonyDb);
    const inChorus = chorus.map(harmonyDb);
    process.stdout.write(`a third above the sung note, against it: verse ${inVerse.map((db) => db.toFixed(1)).join(', ')} dB, chorus ${inChorus.map((db) => db.toFixed(1)).join(', ')} dB\n`);
    for (const db of inChorus) expect(db).toBeGreaterThan(-12);
    for (const db of inVerse) expect(db).toBeLessThan(-25);
  });

  it('sings the verse softer than the chorus, as its energy is lower', () => {
    const sections = score.sections.filter((section) => section.layers.vocals);
    const hooks = new Set(hookSections(composed).map((hook) => hook.index));
    // RMS of the lead voice (left channel) over a section, in dB.
    const level = (section: { startBeat: number; beats: number }) => {
      const from = Math.round(section.startBeat * secondsPerBeat * RATE);
      const to = Math.round((section.startBeat + section.beats) * secondsPerBeat * RATE);
      let sum = 0;
      for (let i = from; i < to; i++) sum += voice[0][i] ** 2;
      return 10 * Math.log10(sum / (to - from) + 1e-12);
    };
    const verse = sections.filter((section) => !hooks.has(section.index));
    const chorus = sections.filter((section) => hooks.has(section.index));
    const drop = Math.max(...chorus.map(level)) - Math.max(...verse.map(level));
    process.stdout.write(
      `voice in the verse ${drop.toFixed(1)} dB under the chorus (energies ${verse.map((section) => section.energy).join(', ')} against ${chorus.map((section) => section.energy).join(', ')})\n`,
    );
    expect(drop).toBeGreaterThanOrEqual(3);
  });

  it('is heard over most of the preview', () => {
    const { share } = heardShare(voice[0]);
    process.stdout.write(`voice within 20 dB of its peak level over ${(share * 100).toFixed(1)} % of the preview\n`);
    expect(share).toBeGreaterThanOrEqual(0.5);
  });
});

// A phone take: two sung phrases with a breathy 12.5 kHz partial, over a constant hiss band (2–10 kHz) that starts before the voice.
const PHRASES = [
  { from: 0.6, midis: [64, 67, 65] },
  { from: 3.0, midis: [62, 64, 60] },
];
const PHRASE_NOTE_SECONDS = 0.45;

function phoneTake(): Float32Array {
  const out = new Float32Array(Math.round(5 * RATE));
  for (const phrase of PHRASES) {
    phrase.midis.forEach((midi, index) => {
      const hz = 440 * 2 ** ((midi - 69) / 12);
      const from = Math.round((phrase.from + index * PHRASE_NOTE_SECONDS) * RATE);
      const length = Math.round(PHRASE_NOTE_SECONDS * RATE);
      for (let i = 0; i < length; i++) {
        const envelope = Math.min(1, i / 400, (length - i) / 400);
        let value = Math.sin((2 * Math.PI * 12_500 * i) / RATE) * 0.1;
        for (let h = 1; h <= 4; h++) value += Math.sin((2 * Math.PI * hz * h * i) / RATE) / h;
        out[from + i] = 0.2 * envelope * value;
      }
    });
  }
  return out;
}

const phoneAnalysis: Analysis = {
  ...analysis,
  duration_s: 5,
  loudness_lufs: -24,
  voiced_start_s: 0.6,
  voiced_end_s: 4.35,
  notes: PHRASES.flatMap((phrase) => phrase.midis.map((midi, index) => ({ midi, onset_s: phrase.from + index * PHRASE_NOTE_SECONDS, duration_s: PHRASE_NOTE_SECONDS }))),
};

/** Writes the phone take (hiss band mixed in by ffmpeg) and renders its vocal stem; returns the stem's left channel. */
async function renderPhoneTake(dir: string): Promise<Float32Array> {
  const voice = path.join(dir, 'voice.wav');
  await writeFile(voice, encodeWav16([phoneTake()], RATE));
  const take = path.join(dir, 'take.wav');
  await runFfmpeg([
    ...ffmpegInput(voice, 'wav'),
    '-f',
    'lavfi',
    '-i',
    `anoisesrc=color=white:amplitude=0.05:seed=7:sample_rate=${RATE}:duration=5`,
    '-filter_complex',
    '[1:a]highpass=f=2000,lowpass=f=10000[hiss];[0:a][hiss]amix=inputs=2,volume=2',
    '-c:a',
    'pcm_s16le',
    '-y',
    take,
  ]);
  const out = path.join(dir, 'vocals.wav');
  await renderVocals(take, blueprint, phoneAnalysis, out, { format: 'wav' });
  return decodeWav16(await readFile(out)).channels[0];
}

describe('renderVocals on a phone take', () => {
  it('sends the voice to an echo that rings on after each phrase', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-vocals-'));
    try {
      const stem = await renderPhoneTake(dir);
      // 10 ms RMS windows over the first phrase and the gap after it (placed at 6 s).
      const windowLength = Math.round(0.01 * RATE);
      const levels: number[] = [];
      for (let start = 6 * RATE; start + windowLength <= 8.4 * RATE; start += windowLength) {
        let sum = 0;
        for (let i = start; i < start + windowLength; i++) sum += stem[i] ** 2;
        levels.push(10 * Math.log10(sum / windowLength + 1e-12));
      }
      const voice = [...levels].sort((a, b) => a - b)[Math.floor(levels.length * 0.5)];
      const phraseEnd = levels.findLastIndex((level, index) => index < 200 && level > voice - 12);
      const tail = levels.slice(phraseEnd + 5, phraseEnd + 20);
      const tailDb = 10 * Math.log10(tail.reduce((sum, level) => sum + 10 ** (level / 10), 0) / tail.length);
      process.stdout.write(`vocal stem: voice ${voice.toFixed(1)} dB, 50–200 ms after the phrase ${tailDb.toFixed(1)} dB\n`);
      expect(tailDb).toBeGreaterThan(voice - 30);
      expect(tailDb).toBeLessThan(voice - 6);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps the air above 11 kHz', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-vocals-'));
    try {
      const stem = await renderPhoneTake(dir);
      const power = powerSpectrum(stem.subarray(6 * RATE, 10 * RATE));
      const binHz = RATE / 4096;
      let total = 0;
      let air = 0;
      power.forEach((value, bin) => {
        total += value;
        if (bin * binHz >= 11_000) air += value;
      });
      const airDb = 10 * Math.log10(air / total);
      process.stdout.write(`vocal stem energy above 11 kHz: ${airDb.toFixed(1)} dB of the total\n`);
      expect(airDb).toBeGreaterThan(-40);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  // The bundled 2018 build's afftdn takes the band profile but removes little of any hiss (−26 dB here at best).
  it.skipIf(ffmpegMajor(ffmpegBinary().version) === null)('keeps the hiss band (2–10 kHz) well under the voice while it sings', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-vocals-'));
    try {
      const stem = await renderPhoneTake(dir);
      // 4096-frame windows where the voice sings (within 10 dB of its loud level, the 95th percentile); the take's notes have no partial in 2–10 kHz.
      const size = 4096;
      const windows: { start: number; db: number }[] = [];
      for (let start = 0; start + size <= stem.length; start += size) {
        let sum = 0;
        for (let i = start; i < start + size; i++) sum += stem[i] ** 2;
        windows.push({ start, db: 10 * Math.log10(sum / size + 1e-12) });
      }
      const loud = windows.map((window) => window.db).sort((a, b) => a - b)[Math.floor(0.95 * (windows.length - 1))];
      let hiss = 0;
      let voice = 0;
      for (const { start } of windows.filter((window) => window.db >= loud - 10)) {
        powerSpectrum(stem.subarray(start, start + size), size).forEach((power, bin) => {
          const hz = (bin * RATE) / size;
          if (hz >= 2000 && hz < 10_000) hiss += power;
          else if (hz >= 100 && hz < 2000) voice += power;
        });
      }
      const hissDb = 10 * Math.log10(hiss / voice);
      process.stdout.write(`vocal stem while the voice sings: 2–10 kHz ${hissDb.toFixed(1)} dB against the voice's 100 Hz–2 kHz\n`);
      // Measured −45 dB; with one noise level for every band, as before, −34 dB.
      expect(hissDb).toBeLessThan(-40);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps the noise between phrases at least 30 dB under the voice', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mcm-vocals-'));
    try {
      const stem = await renderPhoneTake(dir);
      // 46 ms windows over the placed take (6 s on, 3.8 s long): a quarter of them fall between the phrases, where the
      // echo of the last note rings on. The take's hiss was 2–10 kHz, where this voice (partials up to 2 kHz, a
      // third above included, and a tone at 12.5 kHz) and its echoes have nothing: whatever sounds there is noise.
      const size = 2048;
      const binHz = RATE / size;
      const windows: { level: number; hiss: number }[] = [];
      for (let start = 6 * RATE; start + size <= 9.8 * RATE; start += size) {
        const samples = stem.subarray(start, start + size);
        const power = powerSpectrum(samples, size);
        let band = 0;
        let total = 0;
        power.forEach((value, bin) => {
          total += value;
          if (bin * binHz >= 2500 && bin * binHz <= 10_000) band += value;
        });
        const level = 10 * Math.log10(samples.reduce((sum, value) => sum + value * value, 0) / size + 1e-12);
        windows.push({ level, hiss: level + 10 * Math.log10(band / (total || 1) + 1e-12) });
      }
      windows.sort((a, b) => a.level - b.level);
      const voice = windows[Math.floor(windows.length * 0.9)].level;
      const between = windows.slice(0, Math.floor(windows.length / 4));
      const floor = 10 * Math.log10(between.reduce((sum, window) => sum + 10 ** (window.hiss / 10), 0) / between.length);
      process.stdout.write(`vocal stem: voice ${voice.toFixed(1)} dB, noise between phrases ${floor.toFixed(1)} dB (all ${between.at(-1)!.level.toFixed(1)} dB or less)\n`);
      expect(voice).toBeGreaterThan(-30);
      expect(voice - floor).toBeGreaterThanOrEqual(30);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

async function decodeMono(file: string, from = 0, to = 1e6): Promise<Float32Array> {
  const { stdout } = await runFfmpeg([...ffmpegInput(file, 'wav'), '-af', `atrim=start=${from}:end=${to},highpass=f=70,lowpass=f=1000`, '-ac', '1', '-ar', '8000', '-f', 'f32le', 'pipe:1'], {
    stdout: true,
  });
  return new Float32Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + (stdout.length - (stdout.length % 4))));
}
