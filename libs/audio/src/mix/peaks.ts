/** Waveform peaks in the audiowaveform JSON format (version 2), which players such as peaks.js and wavesurfer read. */
export interface WaveformPeaks {
  version: 2;
  channels: 1;
  sample_rate: number;
  samples_per_pixel: number;
  bits: 8;
  length: number;
  /** Interleaved min, max per pixel, −128…127. */
  data: number[];
}

// 100 points a second at 44.1 kHz: enough for a full-width player, small enough to ship with the moment.
export const PEAKS_SAMPLES_PER_PIXEL = 441;

/**
 * Min and max of the channels' mix-down over each block of `samplesPerPixel` frames, scaled to 8 bits,
 * straight from interleaved 16-bit PCM (a WAV's data chunk) so a 30 s master takes a few milliseconds.
 */
export function waveformPeaks(pcm: Int16Array, channelCount: number, sampleRate: number, samplesPerPixel = PEAKS_SAMPLES_PER_PIXEL): WaveformPeaks {
  const frames = Math.floor(pcm.length / channelCount);
  const length = Math.ceil(frames / samplesPerPixel);
  const data = new Array<number>(length * 2);
  // Sum of the channels, scaled from 16-bit × channels to 8-bit in one step.
  const scale = 128 / (32768 * channelCount);
  for (let pixel = 0; pixel < length; pixel++) {
    let min = 0;
    let max = 0;
    const end = Math.min(frames, (pixel + 1) * samplesPerPixel) * channelCount;
    for (let i = pixel * samplesPerPixel * channelCount; i < end; i += channelCount) {
      let value = pcm[i];
      for (let c = 1; c < channelCount; c++) value += pcm[i + c];
      if (value < min) min = value;
      if (value > max) max = value;
    }
    data[pixel * 2] = toByte(min * scale);
    data[pixel * 2 + 1] = toByte(max * scale);
  }
  return { version: 2, channels: 1, sample_rate: sampleRate, samples_per_pixel: samplesPerPixel, bits: 8, length, data };
}

const toByte = (value: number): number => Math.max(-128, Math.min(127, Math.round(value)));
