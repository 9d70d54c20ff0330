import { useEffect, useRef, useState } from 'preact/hooks';
import type { MomentsClient } from '@main-character/sdk';

/** audiowaveform JSON (version 2): interleaved min and max per point, 8-bit. */
interface Peaks {
  data: number[];
}

function isPeaks(value: unknown): value is Peaks {
  return !!value && typeof value === 'object' && Array.isArray((value as Peaks).data);
}

/** One bar per few points, so the waveform reads as bars at any width. */
function bars(peaks: Peaks, count: number): number[] {
  const points = peaks.data.length / 2;
  const heights: number[] = [];
  for (let bar = 0; bar < count; bar++) {
    const from = Math.floor((bar * points) / count);
    const to = Math.max(from + 1, Math.floor(((bar + 1) * points) / count));
    let peak = 0;
    for (let point = from; point < to && point < points; point++) peak = Math.max(peak, Math.abs(peaks.data[point * 2]), Math.abs(peaks.data[point * 2 + 1]));
    heights.push(peak / 128);
  }
  const loudest = Math.max(0.05, ...heights);
  return heights.map((height) => height / loudest);
}

function draw(canvas: HTMLCanvasElement, heights: number[], played: number): void {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const context = canvas.getContext('2d');
  if (!context) return;
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  const step = width / heights.length;
  const styles = getComputedStyle(canvas);
  heights.forEach((value, index) => {
    const x = index * step;
    const barHeight = Math.max(2, value * (height - 4));
    context.fillStyle = x < played * width ? styles.getPropertyValue('--played').trim() || '#ffb347' : styles.getPropertyValue('--unplayed').trim() || '#5b5178';
    context.fillRect(x + step * 0.15, (height - barHeight) / 2, Math.max(1, step * 0.7), barHeight);
  });
  context.fillStyle = styles.getPropertyValue('--playhead').trim() || '#fff';
  context.fillRect(Math.min(width - 2, played * width), 0, 2, height);
}

/** The preview on an <audio> element (the browser's controls and media keys), with its waveform and a playhead. */
export function Player({ client, src, peaksUrl, title }: { client: MomentsClient; src: string; peaksUrl: string | null; title: string }) {
  const audio = useRef<HTMLAudioElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [heights, setHeights] = useState<number[] | null>(null);

  useEffect(() => {
    if (!peaksUrl) return;
    const controller = new AbortController();
    client
      .download(peaksUrl, undefined, { signal: controller.signal })
      .then((bytes) => {
        const peaks: unknown = JSON.parse(new TextDecoder().decode(bytes));
        if (isPeaks(peaks)) setHeights(bars(peaks, 96));
      })
      // Without peaks the player still plays; the waveform is a picture of the song, not a control.
      .catch(() => undefined);
    return () => controller.abort();
  }, [client, peaksUrl]);

  useEffect(() => {
    const element = audio.current;
    const surface = canvas.current;
    if (!element || !surface || !heights) return;
    let frame = 0;
    const paint = () => {
      draw(surface, heights, element.duration ? element.currentTime / element.duration : 0);
      if (!element.paused) frame = requestAnimationFrame(paint);
    };
    const events = ['play', 'pause', 'seeked', 'timeupdate', 'loadedmetadata'];
    events.forEach((name) => element.addEventListener(name, paint));
    const resize = new ResizeObserver(paint);
    resize.observe(surface);
    paint();
    return () => {
      cancelAnimationFrame(frame);
      resize.disconnect();
      events.forEach((name) => element.removeEventListener(name, paint));
    };
  }, [heights]);

  const seek = (event: MouseEvent) => {
    const element = audio.current;
    const surface = canvas.current;
    if (!element || !surface || !element.duration) return;
    const box = surface.getBoundingClientRect();
    element.currentTime = ((event.clientX - box.left) / box.width) * element.duration;
  };

  return (
    <div class="player">
      {heights && <canvas ref={canvas} class="waveform" aria-hidden="true" onClick={seek} />}
      <audio ref={audio} controls preload="auto" src={src} aria-label={`Play ${title}`} />
    </div>
  );
}
