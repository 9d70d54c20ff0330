/** 16-bit PCM RIFF/WAVE encoding: the 44-byte canonical header followed by interleaved samples. */
export function encodeWav16(channels: Float32Array[], sampleRate: number): Buffer {
  const channelCount = channels.length;
  const frames = channels[0]?.length ?? 0;
  const dataBytes = frames * channelCount * 2;
  // Every byte is written below: no zero-filling of a stem's 5 MB first.
  const buffer = Buffer.allocUnsafeSlow(44 + dataBytes);
  buffer.write('RIFF', 0, 'ascii');
  buffer.writeUInt32LE(36 + dataBytes, 4);
  buffer.write('WAVE', 8, 'ascii');
  buffer.write('fmt ', 12, 'ascii');
  buffer.writeUInt32LE(16, 16);
  buffer.writeUInt16LE(1, 20);
  buffer.writeUInt16LE(channelCount, 22);
  buffer.writeUInt32LE(sampleRate, 24);
  buffer.writeUInt32LE(sampleRate * channelCount * 2, 28);
  buffer.writeUInt16LE(channelCount * 2, 32);
  buffer.writeUInt16LE(16, 34);
  buffer.write('data', 36, 'ascii');
  buffer.writeUInt32LE(dataBytes, 40);
  const samples = new Int16Array(buffer.buffer, buffer.byteOffset + 44, frames * channelCount);
  // A channel at a time reads each array in order; NaN stays NaN and is stored as 0, as before.
  for (let c = 0; c < channelCount; c++) {
    const channel = channels[c];
    for (let i = 0, j = c; i < frames; i++, j += channelCount) {
      const value = channel[i];
      samples[j] = Math.round((value > 1 ? 1 : value < -1 ? -1 : value) * 32767);
    }
  }
  return buffer;
}

export interface DecodedWav {
  sampleRate: number;
  channels: Float32Array[];
}

export interface Wav16 {
  sampleRate: number;
  channelCount: number;
  /** The frames, channels interleaved. */
  samples: Int16Array;
}

/** A 16-bit PCM WAV's samples as they lie in the file (as written by encodeWav16 or ffmpeg's pcm_s16le), skipping chunks other than fmt and data. */
export function readWav16(buffer: Buffer): Wav16 {
  if (buffer.toString('ascii', 0, 4) !== 'RIFF' || buffer.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not a RIFF/WAVE file');
  let offset = 12;
  let channelCount = 0;
  let sampleRate = 0;
  let bits = 0;
  while (offset + 8 <= buffer.length) {
    const id = buffer.toString('ascii', offset, offset + 4);
    const size = buffer.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      channelCount = buffer.readUInt16LE(body + 2);
      sampleRate = buffer.readUInt32LE(body + 4);
      bits = buffer.readUInt16LE(body + 14);
    } else if (id === 'data') {
      if (bits !== 16 || channelCount === 0) throw new Error(`unsupported WAV: ${bits}-bit, ${channelCount} channels`);
      const end = Math.min(buffer.length, body + size);
      const frames = Math.floor((end - body) / (2 * channelCount));
      // A typed view reads the samples ten times faster than readInt16LE; a chunk at an odd offset is copied first.
      const start = buffer.byteOffset + body;
      const bytes = frames * channelCount * 2;
      const samples = start % 2 === 0 ? new Int16Array(buffer.buffer, start, frames * channelCount) : new Int16Array(buffer.buffer.slice(start, start + bytes));
      return { sampleRate, channelCount, samples };
    }
    offset = body + size + (size % 2);
  }
  throw new Error('WAV has no data chunk');
}

/** Frames `from`…`to` of interleaved 16-bit PCM as one float array per channel. */
export function planarFloat(samples: Int16Array, channelCount: number, from = 0, to = Math.floor(samples.length / channelCount)): Float32Array[] {
  const start = Math.max(0, from);
  const frames = Math.max(0, Math.min(to, Math.floor(samples.length / channelCount)) - start);
  const channels: Float32Array[] = [];
  for (let c = 0; c < channelCount; c++) {
    const channel = new Float32Array(frames);
    for (let i = 0, j = start * channelCount + c; i < frames; i++, j += channelCount) channel[i] = samples[j] / 32768;
    channels.push(channel);
  }
  return channels;
}

/** Reads a 16-bit PCM WAV as one float array per channel. */
export function decodeWav16(buffer: Buffer): DecodedWav {
  const { sampleRate, channelCount, samples } = readWav16(buffer);
  return { sampleRate, channels: planarFloat(samples, channelCount) };
}
