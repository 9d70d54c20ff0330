import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAudioWorkers, conformToBlueprint, measureLoudness, probeAudio, renderVocals } from '@mcm/audio';
import { blueprintDurationSeconds, type Analysis, type Blueprint } from '@mcm/pipeline';
import { startFakeElevenLabs, type FakeElevenLabs } from '../../../../test/support/fake-elevenlabs';
import { decodeWav16 } from '../../../audio/src/io/wav';
import { compositionPlan } from './composition-plan';
import { OutboundGuard, OutboundRefusedError } from '../outbound/outbound-guard';
import { ELEVENLABS_OUTPUT, ElevenLabsClient, ElevenLabsError } from './elevenlabs.client';

const KEY = 'sk_test_0123456789abcdef';
// The fake listens on 127.0.0.1, which only OUTBOUND_ALLOW_PRIVATE=true lets the client reach.
const outbound = new OutboundGuard({ allowPrivate: true });
const FIXTURES = path.resolve(__dirname, '../../../../test/fixtures');

const blueprint: Blueprint = {
  id: 'eleven-test',
  style: 'synthwave',
  tempo_bpm: 120,
  key: 'Am',
  time_signature: '4/4',
  sections: [
    { name: 'intro', bars: 2, energy: 0.3, prompt: 'neon pads swell' },
    { name: 'verse', bars: 4, energy: 0.55 },
    { name: 'chorus', bars: 4, energy: 0.9, prompt: 'the main character moment' },
    { name: 'outro', bars: 2, energy: 0.4 },
  ],
  lyrics: 'Running through the morning light.\nThis is my moment!',
  voice: { voice_id: 'voice-123', model_id: 'eleven_multilingual_v2', stability: 0.4, similarity_boost: 0.8, style_exaggeration: 0.2, speaker_boost: true },
  arrangement: [
    { drums: false, bass: true, pads: true, lead: false, vocals: false },
    { drums: true, bass: true, pads: true, lead: false, vocals: false },
    { drums: true, bass: true, pads: true, lead: true, vocals: true },
    { drums: false, bass: true, pads: true, lead: false, vocals: false },
  ],
};

const speech = {
  voiceId: 'voice-123',
  text: 'Running through the morning light. This is my moment!',
  modelId: 'eleven_multilingual_v2',
  voiceSettings: { stability: 0.4, similarity_boost: 0.8, style: 0.2, use_speaker_boost: true },
};

describe('ElevenLabsClient against a local fake of the ElevenLabs API', () => {
  let fake: FakeElevenLabs;
  let client: ElevenLabsClient;
  let dir: string;

  beforeAll(async () => {
    fake = await startFakeElevenLabs(KEY);
    client = new ElevenLabsClient({ apiKey: KEY, baseUrl: fake.baseUrl, defaultVoiceId: 'default-voice', speechTimeoutMs: 10_000, musicTimeoutMs: 20_000, outbound });
    dir = await mkdtemp(path.join(tmpdir(), 'mcm-eleven-'));
  });

  afterAll(async () => {
    await fake?.close();
    await closeAudioWorkers();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('sends text-to-speech as documented and gets MP3 audio back', async () => {
    fake.behave('ok');
    const audio = await client.textToSpeech({ ...speech, outputFormat: 'mp3_44100_128' });
    const request = fake.requests.at(-1)!;
    expect(request).toMatchObject({ method: 'POST', path: '/v1/text-to-speech/voice-123', query: { output_format: 'mp3_44100_128' } });
    expect(request.headers['xi-api-key']).toBe(KEY);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.body).toEqual({
      text: speech.text,
      model_id: 'eleven_multilingual_v2',
      voice_settings: { stability: 0.4, similarity_boost: 0.8, style: 0.2, use_speaker_boost: true },
    });
    const file = path.join(dir, 'speech.mp3');
    await writeFile(file, audio);
    expect(await probeAudio(file, { format: ELEVENLABS_OUTPUT.demuxer })).toMatchObject({ codec: 'mp3', sample_rate: 44100 });
  });

  it('composes music from a plan that follows the blueprint', async () => {
    fake.behave('ok');
    const plan = compositionPlan(blueprint);
    expect(plan.positive_global_styles).toEqual(expect.arrayContaining(['synthwave', '120 BPM', '4/4 time signature', 'A minor']));
    expect(plan.sections.map((section) => section.section_name)).toEqual(['intro', 'verse', 'chorus', 'outro']);
    expect(plan.sections.map((section) => section.duration_ms)).toEqual([4000, 8000, 8000, 4000]);
    expect(plan.sections[2].lines).toEqual(['Running through the morning light.', 'This is my moment!']);
    expect(plan.sections[0].lines).toEqual([]);
    expect(plan.sections[0].positive_local_styles).toContain('neon pads swell');
    expect(plan.sections[0].negative_local_styles).toEqual(expect.arrayContaining(['no drums', 'vocals']));

    const audio = await client.composeMusic({ compositionPlan: plan });
    const request = fake.requests.at(-1)!;
    expect(request).toMatchObject({ method: 'POST', path: '/v1/music', query: { output_format: 'mp3_44100_128' } });
    expect(request.headers['xi-api-key']).toBe(KEY);
    expect(request.body).toEqual({ composition_plan: plan, model_id: 'music_v1', respect_sections_durations: true });

    // The composed track becomes a stem of exactly the blueprint's length.
    const composed = path.join(dir, 'composed.mp3');
    const stem = path.join(dir, 'instrumental.wav');
    await writeFile(composed, audio);
    await conformToBlueprint(composed, ELEVENLABS_OUTPUT.demuxer, blueprint, stem);
    const wav = decodeWav16(await readFile(stem));
    expect(wav.sampleRate).toBe(44100);
    expect(wav.channels).toHaveLength(2);
    expect(wav.channels[0].length).toBe(Math.round(blueprintDurationSeconds(blueprint) * 44100));
    expect((await measureLoudness(stem, 'wav')).integrated_lufs).toBeGreaterThan(-45);
  });

  it('clamps sections to the durations ElevenLabs accepts', () => {
    const fast = { ...blueprint, tempo_bpm: 220, sections: [{ name: 'hook', bars: 1 }] };
    expect(compositionPlan(fast).sections[0].duration_ms).toBe(3000);
  });

  it.each([
    [401, 'ELEVENLABS_UNAUTHORIZED', false],
    [403, 'ELEVENLABS_UNAUTHORIZED', false],
    [429, 'ELEVENLABS_RATE_LIMITED', true],
    [500, 'ELEVENLABS_UNAVAILABLE', true],
    [422, 'ELEVENLABS_REJECTED', false],
  ] as const)('maps HTTP %i to %s (retryable: %s) without revealing the key', async (status, code, retryable) => {
    fake.behave(status);
    const error = (await client.textToSpeech(speech).catch((caught: unknown) => caught)) as ElevenLabsError;
    expect(error).toBeInstanceOf(ElevenLabsError);
    expect(error).toMatchObject({ code, retryable, status });
    expect(error.message).not.toContain(KEY);
    if (status === 422) expect(error.message).toContain('too long');
    if (status === 403) expect(error.message).toContain('lacks the music permission');
  });

  it('refuses a wrong key as unauthorized', async () => {
    fake.behave('ok');
    const wrong = new ElevenLabsClient({ apiKey: 'sk_wrong_key_000000000000', baseUrl: fake.baseUrl, defaultVoiceId: 'v', outbound });
    await expect(wrong.composeMusic({ compositionPlan: compositionPlan(blueprint) })).rejects.toMatchObject({ code: 'ELEVENLABS_UNAUTHORIZED', retryable: false });
  });

  it('gives up on a request that never answers after the configured timeout, as retryable', async () => {
    fake.behave('hang');
    const impatient = new ElevenLabsClient({ apiKey: KEY, baseUrl: fake.baseUrl, defaultVoiceId: 'v', speechTimeoutMs: 1_000, outbound });
    const started = Date.now();
    const error = await impatient.textToSpeech(speech).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'ELEVENLABS_TIMEOUT', retryable: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeLessThan(5_000);
    fake.behave('ok');
  });

  it('reports an unreachable host as retryable', async () => {
    const nowhere = new ElevenLabsClient({ apiKey: KEY, baseUrl: 'http://127.0.0.1:9', defaultVoiceId: 'v', outbound });
    await expect(nowhere.textToSpeech(speech)).rejects.toMatchObject({ code: 'ELEVENLABS_UNAVAILABLE', retryable: true });
  });

  it('refuses to reach the fake on 127.0.0.1 without OUTBOUND_ALLOW_PRIVATE, sending nothing', async () => {
    fake.behave('ok');
    const before = fake.requests.length;
    const localhost = fake.baseUrl.replace('127.0.0.1', 'localhost');
    for (const baseUrl of [fake.baseUrl, localhost]) {
      const guarded = new ElevenLabsClient({ apiKey: KEY, baseUrl, defaultVoiceId: 'v', outbound: new OutboundGuard({ allowPrivate: false }) });
      const error = await guarded.textToSpeech(speech).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(OutboundRefusedError);
      expect(error).toMatchObject({ code: 'OUTBOUND_REFUSED', retryable: false });
      expect((error as Error).message).not.toContain('127.0.0.1');
      expect((error as Error).message).not.toContain('localhost');
    }
    // Public addresses only is the default.
    const byDefault = new ElevenLabsClient({ apiKey: KEY, baseUrl: fake.baseUrl, defaultVoiceId: 'v' });
    await expect(byDefault.composeMusic({ compositionPlan: compositionPlan(blueprint) })).rejects.toMatchObject({ code: 'OUTBOUND_REFUSED' });
    expect(fake.requests.length).toBe(before);
  });

  it('stays out of the way without a key', async () => {
    const disabled = new ElevenLabsClient({ baseUrl: fake.baseUrl, defaultVoiceId: 'v' });
    expect(disabled.enabled).toBe(false);
    await expect(disabled.textToSpeech(speech)).rejects.toMatchObject({ code: 'ELEVENLABS_DISABLED', retryable: false });
  });

  it('renders a vocal stem with the spoken lyrics over the verse and the hum at the chorus', async () => {
    fake.behave('ok');
    const file = path.join(dir, 'lyrics.mp3');
    await writeFile(file, await client.textToSpeech(speech));
    const analysis: Analysis = {
      duration_s: 12,
      sample_rate: 48000,
      channels: 1,
      loudness_lufs: -16,
      peak_dbfs: -3,
      voiced_start_s: 0.5,
      voiced_end_s: 11,
      median_pitch_hz: 200,
      notes: [],
      tempo_bpm: 120,
      tempo_source: 'style',
      key: 'Am',
      key_confidence: 0.5,
      energy: 0.5,
    };
    const out = path.join(dir, 'vocals.wav');
    const report = await renderVocals(path.join(FIXTURES, 'voice-clean.wav'), blueprint, analysis, out, { format: 'wav', speech: { path: file, format: ELEVENLABS_OUTPUT.demuxer } });
    expect(report.speech_beat).toBe(8);
    expect(report.hook_beats).toEqual([24]);
    const left = decodeWav16(await readFile(out)).channels[0];
    const peak = (from: number, to: number) => left.subarray(Math.round(from * 44100), Math.round(to * 44100)).reduce((max, value) => Math.max(max, Math.abs(value)), 0);
    expect(peak(0, 3.99)).toBe(0);
    expect(peak(4, 6)).toBeGreaterThan(0.05);
    expect(peak(12, 16)).toBeGreaterThan(0.05);
  });
});
