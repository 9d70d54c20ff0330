import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { ffmpegInput, runFfmpeg } from '@mcm/audio';
import type { Blueprint } from '@mcm/pipeline';

/**
 * Hostile variants of real recordings and blueprints for the fuzz run. Each variant says whether
 * it must be refused whatever the mutation did (`mustRefuse`), or may have stayed valid (a bit
 * flip inside PCM samples is still a recording); either way it must never crash anything.
 */
export interface HostileFile {
  kind: string;
  data: Buffer;
  filename: string;
  mustRefuse: boolean;
  /** As a stem, where only WAV is read and a short or silent stem is legitimate. */
  stemMustRefuse: boolean;
}

export interface HostileBlueprint {
  kind: string;
  /** The blueprint_json text as sent. */
  json: string;
  /** True when the variant asks for far more audio than any render limit allows. */
  huge: boolean;
  /** Nests deeper than any blueprint may (32 levels), whatever the schema says of the rest. */
  tooDeep?: boolean;
}

const FIXTURES = resolve(__dirname, '../fixtures');

/** Valid recordings of every container a phone or browser records into, made once per run. */
export type Seeds = Record<'m4a' | 'wav' | 'flac' | 'ogg' | 'mp3' | 'webm', Buffer>;

/** Files that are valid containers but must be refused: too long, silent, too short. */
export interface Refusables {
  longSilentFlac: Buffer;
  longToneFlac: Buffer;
  silentWav: Buffer;
  blipWav: Buffer;
}

async function encode(dir: string, name: string, args: string[]): Promise<Buffer> {
  const out = join(dir, name);
  await runFfmpeg([...args, '-y', out]);
  return readFile(out);
}

export async function makeSeeds(): Promise<{ seeds: Seeds; refusables: Refusables }> {
  const dir = await mkdtemp(join(tmpdir(), 'mcm-fuzz-seeds-'));
  const voice = join(FIXTURES, 'voice-clean.wav');
  // Three seconds of the real voice in each container keeps every request cheap.
  const take = [...ffmpegInput(voice, 'wav'), '-t', '3', '-ac', '1'];
  try {
    const [wav, flac, ogg, mp3, webm, longSilentFlac, longToneFlac, silentWav, blipWav] = await Promise.all([
      encode(dir, 'seed.wav', [...take, '-ar', '16000', '-c:a', 'pcm_s16le']),
      encode(dir, 'seed.flac', [...take, '-ar', '16000', '-c:a', 'flac']),
      encode(dir, 'seed.ogg', [...take, '-ar', '48000', '-c:a', 'libopus', '-b:a', '32k']),
      encode(dir, 'seed.mp3', [...take, '-ar', '44100', '-c:a', 'libmp3lame', '-b:a', '64k']),
      encode(dir, 'seed.webm', [...take, '-ar', '48000', '-c:a', 'libopus', '-b:a', '32k', '-f', 'webm']),
      encode(dir, 'silent-6h.flac', [...ffmpegInput('anullsrc=r=8000:cl=mono', 'lavfi'), '-t', '21600', '-c:a', 'flac']),
      encode(dir, 'tone-2min.flac', [...ffmpegInput('sine=f=330:r=8000', 'lavfi'), '-t', '120', '-c:a', 'flac']),
      encode(dir, 'silent.wav', [...ffmpegInput('anullsrc=r=16000:cl=mono', 'lavfi'), '-t', '3', '-c:a', 'pcm_s16le']),
      encode(dir, 'blip.wav', [...ffmpegInput('sine=f=440:r=16000', 'lavfi'), '-t', '0.2', '-c:a', 'pcm_s16le']),
    ]);
    return {
      seeds: { m4a: readFileSync(join(FIXTURES, 'hum-phone.m4a')), wav, flac, ogg, mp3, webm },
      refusables: { longSilentFlac, longToneFlac, silentWav, blipWav },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function flipBits(data: Buffer, positions: number[], within = data.length): Buffer {
  const copy = Buffer.from(data);
  for (const position of positions) {
    const bit = position % (Math.min(within, copy.length) * 8);
    copy[bit >> 3] ^= 1 << (bit & 7);
  }
  return copy;
}

/** A canonical 16-bit PCM WAV header over `data`, with any of its fields replaced by a lie. */
function wavWithHeader(data: Buffer, lie: Partial<Record<'rate' | 'channels' | 'bits' | 'dataSize' | 'riffSize' | 'fmtSize', number>>): Buffer {
  const header = Buffer.alloc(44);
  const channels = lie.channels ?? 1;
  const bits = lie.bits ?? 16;
  const rate = lie.rate ?? 16000;
  header.write('RIFF', 0);
  header.writeUInt32LE(lie.riffSize ?? 36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(lie.fmtSize ?? 16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE((rate * channels * bits) / 8, 28);
  header.writeUInt16LE((channels * bits) / 8, 32);
  header.writeUInt16LE(bits, 34);
  header.write('data', 36);
  header.writeUInt32LE(lie.dataSize ?? data.length, 40);
  return Buffer.concat([header, data]);
}

/** Text that asks a demuxer to open other files or hosts. */
const playlistTexts = (localFile: string) => [
  `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://${localFile}\n#EXT-X-ENDLIST\n`,
  `#EXTM3U\n#EXTINF:10,\n${localFile}\n#EXTINF:10,\n/etc/passwd\n#EXT-X-ENDLIST\n`,
  `#EXTM3U\n#EXTINF:1,\nhttp://169.254.169.254/latest/meta-data/\n#EXT-X-ENDLIST\n`,
  `#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:6379/\n#EXT-X-ENDLIST\n`,
  `ffconcat version 1.0\nfile '${localFile}'\nfile '${localFile}'\n`,
  `ffconcat version 1.0\nfile 'subfile,,start,0,end,0,,:${localFile}'\n`,
  `[playlist]\nFile1=${localFile}\nNumberOfEntries=1\n`,
  `<?xml version="1.0"?><smil><body><audio src="file://${localFile}"/></body></smil>`,
];

/** Every hostile upload the fuzz run sends, as a fast-check arbitrary over the seeds. */
export function hostileFile(seeds: Seeds, refusables: Refusables): fc.Arbitrary<HostileFile> {
  const names = Object.keys(seeds) as Array<keyof Seeds>;
  const seed = fc.constantFrom(...names);
  const localFile = join(FIXTURES, 'voice-clean.wav');
  const pcm = seeds.wav.subarray(44);

  const bitFlips = fc.record({ name: seed, flips: fc.array(fc.nat(), { minLength: 1, maxLength: 48 }) }).map(({ name, flips }) => ({
    kind: `bit flips (${name})`,
    data: flipBits(seeds[name], flips),
    filename: `take.${name}`,
    mustRefuse: false,
    stemMustRefuse: false,
  }));
  const headerFlips = fc.record({ name: seed, flips: fc.array(fc.nat(), { minLength: 1, maxLength: 8 }) }).map(({ name, flips }) => ({
    kind: `header bit flips (${name})`,
    data: flipBits(seeds[name], flips, 96),
    filename: `take.${name}`,
    mustRefuse: false,
    stemMustRefuse: false,
  }));
  const truncations = fc.record({ name: seed, keep: fc.double({ min: 0.01, max: 0.97, noNaN: true }) }).map(({ name, keep }) => ({
    kind: `truncated (${name})`,
    data: seeds[name].subarray(0, Math.max(1, Math.floor(seeds[name].length * keep))),
    filename: `take.${name}`,
    mustRefuse: false,
    stemMustRefuse: false,
  }));
  const splices = fc.record({ head: seed, tail: seed, cut: fc.integer({ min: 16, max: 4096 }) }).map(({ head, tail, cut }) => ({
    kind: `spliced (${head} header, ${tail} body)`,
    data: Buffer.concat([seeds[head].subarray(0, cut), seeds[tail].subarray(cut)]),
    filename: `take.${head}`,
    mustRefuse: false,
    stemMustRefuse: false,
  }));
  const sizeLies = fc
    .record({ field: fc.constantFrom('dataSize' as const, 'riffSize' as const), value: fc.constantFrom(0xffffffff, 0x7fffffff, 0x10000000, 0) })
    .map(({ field, value }) => ({ kind: `WAV ${field} declared as ${value}`, data: wavWithHeader(pcm, { [field]: value }), filename: 'take.wav', mustRefuse: false, stemMustRefuse: false }));
  const formatLies = fc
    .constantFrom<Partial<Record<'rate' | 'channels' | 'bits' | 'fmtSize', number>>>({ rate: 0 }, { channels: 0 }, { bits: 0 }, { fmtSize: 0xfffffff0 }, { channels: 65535, bits: 8 })
    .map((lie) => ({ kind: `WAV format lie ${JSON.stringify(lie)}`, data: wavWithHeader(pcm, lie), filename: 'take.wav', mustRefuse: true, stemMustRefuse: true }));
  const playlists = fc
    .record({ text: fc.constantFrom(...playlistTexts(localFile)), filename: fc.constantFrom('take.m3u8', 'take.wav', 'take.m4a', 'take.txt') })
    .map(({ text, filename }) => ({ kind: `playlist or script as ${filename}`, data: Buffer.from(text), filename, mustRefuse: true, stemMustRefuse: true }));
  // A playlist behind an audio signature: a WAV whose "samples" are the playlist text lasts milliseconds.
  const polyglots = fc.constantFrom(...playlistTexts(localFile)).map((text) => ({
    kind: 'playlist inside a WAV header',
    data: wavWithHeader(Buffer.from(text.length % 2 ? `${text} ` : text), {}),
    filename: 'take.wav',
    mustRefuse: true,
    stemMustRefuse: false,
  }));
  const noise = fc.uint8Array({ minLength: 1, maxLength: 4096 }).map((bytes) => ({ kind: 'random bytes', data: Buffer.from(bytes), filename: 'take.m4a', mustRefuse: true, stemMustRefuse: true }));
  const refused = fc.constantFrom(
    { kind: '6 hours of silence as FLAC', data: refusables.longSilentFlac, filename: 'long.flac', mustRefuse: true, stemMustRefuse: true },
    { kind: '2 minutes of tone as FLAC', data: refusables.longToneFlac, filename: 'long.flac', mustRefuse: true, stemMustRefuse: true },
    { kind: '3 s of digital silence', data: refusables.silentWav, filename: 'silence.wav', mustRefuse: true, stemMustRefuse: false },
    { kind: '0.2 s blip', data: refusables.blipWav, filename: 'blip.wav', mustRefuse: true, stemMustRefuse: false },
  );

  return fc.oneof(
    { arbitrary: bitFlips, weight: 5 },
    { arbitrary: headerFlips, weight: 3 },
    { arbitrary: truncations, weight: 4 },
    { arbitrary: splices, weight: 2 },
    { arbitrary: sizeLies, weight: 1 },
    { arbitrary: formatLies, weight: 1 },
    { arbitrary: playlists, weight: 2 },
    { arbitrary: polyglots, weight: 1 },
    { arbitrary: noise, weight: 2 },
    { arbitrary: refused, weight: 1 },
  );
}

export const FUZZ_BLUEPRINT: Blueprint = {
  id: 'fuzz',
  style: 'lofi',
  tempo_bpm: 120,
  key: 'C',
  sections: [{ name: 'chorus', bars: 1, energy: 0.8 }],
  lyrics: 'la',
  voice: { voice_id: 'local' },
};

function nested(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/** Blueprints broken in every way the schema forbids, deep or huge JSON, and valid ones that ask for hours of audio. */
export function hostileBlueprint({ maxDepth = 5000 }: { maxDepth?: number } = {}): fc.Arbitrary<HostileBlueprint> {
  const base = FUZZ_BLUEPRINT as unknown as Record<string, unknown>;
  const field = fc.constantFrom('id', 'style', 'tempo_bpm', 'key', 'time_signature', 'sections', 'lyrics', 'voice', 'metadata', '__proto__', 'constructor', 'extra');
  const replaced = fc.record({ field, value: fc.jsonValue({ maxDepth: 4 }) }).map(({ field: name, value }) => ({
    kind: `${name} replaced`,
    json: JSON.stringify({ ...base, [name]: value }),
    huge: false,
  }));
  const removed = fc.constantFrom('id', 'style', 'tempo_bpm', 'key', 'sections', 'lyrics', 'voice').map((name) => {
    const copy = { ...base };
    delete copy[name];
    return { kind: `${name} removed`, json: JSON.stringify(copy), huge: false };
  });
  const section = fc.record({ name: fc.string(), bars: fc.oneof(fc.integer({ min: -5, max: 300 }), fc.double()), energy: fc.double() }, { requiredKeys: [] });
  const sections = fc.array(section, { maxLength: 40 }).map((list) => ({ kind: 'sections fuzzed', json: JSON.stringify({ ...base, sections: list }), huge: false }));
  const huge = fc
    .record({
      bars: fc.integer({ min: 200, max: 256 }),
      count: fc.integer({ min: 1, max: 8 }),
      tempo: fc.integer({ min: 40, max: 45 }),
      signature: fc.constantFrom('99/1', '64/2', '32/4', '99/4'),
    })
    .map(({ bars, count, tempo, signature }) => ({
      kind: `${count} × ${bars} bars of ${signature} at ${tempo} BPM`,
      json: JSON.stringify({ ...base, tempo_bpm: tempo, time_signature: signature, sections: Array.from({ length: count }, (_, i) => ({ name: `s${i}`, bars })) }),
      huge: true,
    }));
  const deep = fc
    .integer({ min: 33, max: maxDepth })
    .map((depth) => ({ kind: `arrays nested ${depth} deep`, json: JSON.stringify({ ...base, metadata: { x: '@' } }).replace('"@"', nested(depth)), huge: false, tooDeep: true }));
  const notJson = fc
    .string({ maxLength: 200 })
    .filter((text) => text.trim() !== '')
    .map((text) => ({ kind: 'not JSON', json: `{${text}`, huge: false }));
  const longStrings = fc.integer({ min: 129, max: 200_000 }).map((length) => ({ kind: `id of ${length} characters`, json: JSON.stringify({ ...base, id: 'x'.repeat(length) }), huge: false }));
  return fc.oneof(replaced, removed, sections, huge, deep, notJson, longStrings);
}
