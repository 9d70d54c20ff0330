import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import AxeBuilder from '@axe-core/playwright';
import { Queue } from 'bullmq';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MomentsClient } from '@main-character/sdk';
import { ffmpegPath } from '@mcm/audio';
import { redisOptions, stageQueueName, storageFromConfig, type StorageRepository } from '@mcm/core';
import { PUBLIC_ERROR_MESSAGES } from '@mcm/pipeline';
import { ROOT, startStack, type Stack } from '../../scripts/stack';
import { createTestEnv, type TestEnv } from '../support/test-env';

const FIXTURES = resolve(__dirname, '../fixtures');
/** Screenshots for people to look at; git-ignored. */
const ARTIFACTS = resolve(__dirname, '../artifacts/browser');
const API_KEY = 'browser-test-key-0123456789';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const MOMENT_PATH = /\/m\/([0-9a-f-]{36})$/;

/**
 * The page as a person uses it, in real Chromium, against the stack as separate processes: a fake
 * microphone fed by the phone fixture, the file picker, a refusal, a failure, a shared link, axe on
 * every screen. One stack and one browser serve the whole file.
 */
describe('the page, in a real browser', () => {
  let testEnv: TestEnv;
  let stack: Stack;
  let browser: Browser;
  let storage: StorageRepository;
  let work: string;
  let madeId: string;
  const contexts: BrowserContext[] = [];
  const logs: string[] = [];
  /** What the browser reported: console errors (CSP refusals among them) and failed page loads. */
  const browserProblems: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'mcm-browser-'));
    mkdirSync(ARTIFACTS, { recursive: true });
    // The fake microphone plays a WAV: the phone fixture, decoded.
    const microphone = join(work, 'hum-phone.wav');
    execFileSync(ffmpegPath(), ['-v', 'error', '-y', '-i', join(FIXTURES, 'hum-phone.m4a'), '-ac', '1', '-ar', '48000', '-c:a', 'pcm_s16le', microphone]);
    testEnv = await createTestEnv({ API_KEYS: API_KEY });
    storage = storageFromConfig(testEnv.config);
    // One after the other: the apps' start-up and Chromium's compete for the same cores.
    stack = await startStack({ env: testEnv.env, workers: 1, log: (app, line) => logs.push(`[${app}] ${line}`) });
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-audio-capture=${microphone}`,
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    storage?.destroy();
    await testEnv?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const open = async (viewport: { width: number; height: number }, withKey = true): Promise<Page> => {
    const context = await browser.newContext({ viewport, acceptDownloads: true, permissions: ['microphone', 'clipboard-read', 'clipboard-write'] });
    contexts.push(context);
    if (withKey) await context.addInitScript((key) => localStorage.setItem('mcm-api-key', key), API_KEY);
    const page = await context.newPage();
    // Refused requests the tests make on purpose (401, 415) are logged as errors too; those are answered, not faults.
    page.on('console', (message) => message.type() === 'error' && !message.text().startsWith('Failed to load resource') && browserProblems.push(message.text()));
    page.on('pageerror', (error) => browserProblems.push(error.message));
    return page;
  };

  const shoot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  /** No serious or critical axe violation on the screen as it is now. */
  const expectAccessible = async (page: Page, screen: string) => {
    const { violations } = await new AxeBuilder({ page }).analyze();
    const serious = violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
    expect(
      serious.map((violation) => `${screen}: ${violation.id} ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`),
      screen,
    ).toEqual([]);
  };

  it('ships a production build under 150 KB of gzipped JavaScript with no inline script', () => {
    const assets = join(ROOT, 'dist/web/assets');
    const scripts = readdirSync(assets).filter((file) => file.endsWith('.js'));
    const gzipped = scripts.reduce((total, file) => total + gzipSync(readFileSync(join(assets, file))).length, 0);
    expect(scripts.length).toBeGreaterThan(0);
    expect(gzipped).toBeLessThan(150 * 1024);
    const html = readFileSync(join(ROOT, 'dist/web/index.html'), 'utf8');
    expect([...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)].every(([, attributes, body]) => /\bsrc="\/assets\//.test(attributes) && body.trim() === '')).toBe(true);
  });

  it('records with the microphone, makes a lofi song and plays it, live from the event stream', async () => {
    const page = await open(PHONE);
    const streams: string[] = [];
    page.on('request', (request) => request.url().endsWith('/events') && streams.push(request.url()));
    const response = await page.goto(`${stack.apiUrl}/`);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await expect.poll(() => page.getByRole('heading', { name: 'Hum your theme song' }).isVisible()).toBe(true);
    await expectAccessible(page, 'start');
    await shoot(page, 'phone-1-start');

    await page.getByRole('button', { name: 'Start recording' }).click();
    await page.getByText(/Get ready/).waitFor();
    await page.getByText(/Recording 0:0[2-9]/).waitFor({ timeout: 15_000 });
    // The meter follows the fake microphone's hum.
    await expect.poll(async () => Number(await page.getByRole('meter', { name: 'Microphone level' }).getAttribute('aria-valuenow'))).toBeGreaterThan(0);
    await shoot(page, 'phone-2-recording');
    await expectAccessible(page, 'recording');
    // Stopped by hand, or by the 15 s limit while axe looked at the screen.
    const stop = page.getByRole('button', { name: 'Stop recording' });
    if (await stop.isVisible()) await stop.click();

    await page.getByRole('heading', { name: 'Your take' }).waitFor();
    // The take plays back before it is uploaded, and can be recorded again.
    await expect.poll(() => page.locator('audio.take-audio').evaluate((audio: HTMLAudioElement) => audio.readyState)).toBeGreaterThan(0);
    await expect(page.getByRole('button', { name: 'Record again' }).isVisible()).resolves.toBe(true);
    await page.getByRole('radio', { name: /Lo-fi/ }).check();
    await page.getByLabel('Title (optional)').fill('Morning Run');
    await expectAccessible(page, 'choose');
    await shoot(page, 'phone-3-choose');
    await page.getByRole('button', { name: 'Make my song' }).click();

    await page.waitForURL(MOMENT_PATH);
    madeId = MOMENT_PATH.exec(page.url())![1];
    await page.getByRole('heading', { name: 'Making your song…' }).waitFor();
    // Key and tempo show once the analysis is known, while the song is still being made.
    await page.getByText(/Tempo \d+ BPM/).waitFor({ timeout: 60_000 });
    await expectAccessible(page, 'watch');
    await shoot(page, 'phone-4-watch');

    await page.getByRole('heading', { name: 'Morning Run' }).waitFor({ timeout: 110_000 });
    expect(streams.some((url) => url.endsWith(`/v1/moments/${madeId}/events`))).toBe(true);
    const audio = page.locator('.player audio');
    await audio.evaluate((element: HTMLAudioElement) => element.play());
    await expect.poll(() => audio.evaluate((element: HTMLAudioElement) => element.currentTime), { timeout: 20_000 }).toBeGreaterThan(0.5);
    await page.locator('canvas.waveform').waitFor();
    await expectAccessible(page, 'listen');
    await shoot(page, 'phone-5-listen');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download MP3' }).click()]);
    expect(download.suggestedFilename()).toBe('morning-run.mp3');
    const saved = join(work, 'download.mp3');
    await download.saveAs(saved);
    const bytes = readFileSync(saved);
    expect(bytes.subarray(0, 3).toString('latin1') === 'ID3' || (bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0)).toBe(true);
    // ffmpeg reads it as MP3, start to end.
    const decoded = spawnSync(ffmpegPath(), ['-hide_banner', '-i', saved, '-f', 'null', '-'], { encoding: 'utf8' });
    expect(decoded.status).toBe(0);
    expect(decoded.stderr).toMatch(/Input #0, mp3/);
    expect(decoded.stderr).toMatch(/Audio: mp3/);

    await page.getByRole('button', { name: 'Copy link' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`${stack.apiUrl}/m/${madeId}`);
  });

  it('opens /m/{id} fresh in another browser context, asking for the API key the server requires', async () => {
    const page = await open(DESKTOP, false);
    await page.goto(`${stack.apiUrl}/m/${madeId}`);
    await page.getByRole('alert').filter({ hasText: 'This server needs an API key' }).waitFor();
    await page.getByLabel('API key').fill(API_KEY);
    await page.getByRole('button', { name: 'Save key' }).click();
    await page.getByRole('heading', { name: 'Morning Run' }).waitFor();
    expect(await page.evaluate(() => localStorage.getItem('mcm-api-key'))).toBe(API_KEY);
    await page.locator('canvas.waveform').waitFor();
    await expect(page.locator('.player audio').getAttribute('src')).resolves.toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    await expectAccessible(page, 'listen (desktop)');
    await shoot(page, 'desktop-5-listen');
    await page.getByRole('button', { name: 'Make another' }).click();
    await page.getByRole('heading', { name: 'Hum your theme song' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    await shoot(page, 'desktop-1-start');
  });

  it('uploads a file, shows live steps, rides out a network blink and cancels', async () => {
    const page = await open(PHONE);
    await page.goto(`${stack.apiUrl}/`);
    await page.getByLabel(/Choose a recording/).setInputFiles(join(FIXTURES, 'voice-clean.wav'));
    await page.getByRole('heading', { name: 'Your recording' }).waitFor();
    // By keyboard: arrows move through the style cards, Enter in the title field submits.
    await page.getByRole('radio', { name: /Cinematic/ }).focus();
    for (let step = 0; step < 3; step++) await page.keyboard.press('ArrowRight');
    await expect(page.getByRole('radio', { name: /Synthwave/ }).isChecked()).resolves.toBe(true);
    await page.getByLabel('Title (optional)').focus();
    await page.keyboard.type('Desk Hum');
    await page.keyboard.press('Enter');
    await page.waitForURL(MOMENT_PATH);
    await page.getByRole('list').locator('li[aria-current="step"]').first().waitFor();

    await page.context().setOffline(true);
    await page.getByText('You are offline').waitFor();
    await page.context().setOffline(false);
    await page.getByText(/Tempo \d+ BPM/).waitFor({ timeout: 60_000 });
    await expect(page.getByText('You are offline').count()).resolves.toBe(0);

    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('heading', { name: 'Canceled' }).waitFor();
    await expectAccessible(page, 'canceled');
    await page.getByRole('button', { name: 'Make another' }).click();
    await page.getByRole('heading', { name: 'Hum your theme song' }).waitFor();
  });

  it('refuses a file that is not audio before uploading, and shows the server refusal of a disguised one as a sentence', async () => {
    const page = await open(PHONE);
    const creates: string[] = [];
    page.on('request', (request) => request.method() === 'POST' && creates.push(request.url()));
    await page.goto(`${stack.apiUrl}/`);
    await page.getByLabel(/Choose a recording/).setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('my lyrics, not a recording') });
    await page.getByRole('alert').filter({ hasText: '“notes.txt” is not an audio file' }).waitFor();
    await expectAccessible(page, 'refused');
    await shoot(page, 'phone-6-refused');
    expect(creates).toEqual([]);

    // Dropped on the drop zone, a file is checked the same way.
    await page.locator('label.drop').evaluate((zone) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(2048)], 'photo.png', { type: 'image/png' }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    });
    await page.getByRole('alert').filter({ hasText: '“photo.png” is not an audio file' }).waitFor();
    expect(creates).toEqual([]);

    await page.getByLabel(/Choose a recording/).setInputFiles({ name: 'voice.m4a', mimeType: 'audio/mp4', buffer: Buffer.from('these are words pretending to be audio\n'.repeat(40)) });
    await page.getByRole('button', { name: 'Make my song' }).click();
    await page.getByRole('alert').filter({ hasText: 'That file is not a recording we can read.' }).waitFor();
    expect(creates).toHaveLength(1);
  });

  it('shows the upload filling its progress bar on a slow connection', async () => {
    const page = await open(PHONE);
    await page.goto(`${stack.apiUrl}/`);
    await page.getByLabel(/Choose a recording/).setInputFiles(join(FIXTURES, 'voice-clean.wav'));
    await page.getByRole('heading', { name: 'Your recording' }).waitFor();
    // 1.1 MB at 400 KB/s: about three seconds of upload.
    const network = await page.context().newCDPSession(page);
    await network.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 400 * 1024 });
    await page.getByRole('button', { name: /Make my song/ }).click();
    const bar = page.getByRole('progressbar', { name: 'Upload progress' });
    await bar.waitFor();
    const seen: number[] = [];
    while (!MOMENT_PATH.test(new URL(page.url()).pathname)) {
      const value = await bar.evaluate((element: HTMLProgressElement) => element.value).catch(() => null);
      if (value !== null) seen.push(value);
      await page.waitForTimeout(100);
    }
    await network.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    expect(
      seen.some((value) => value > 0.1 && value < 0.9),
      `upload progress seen: ${seen.join(', ')}`,
    ).toBe(true);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    await network.detach();
  });

  it('asks for the key again when the server refuses the one kept, and keeps the take until it is saved', async () => {
    const page = await open(PHONE, false);
    await page.addInitScript(() => localStorage.setItem('mcm-api-key', 'not-a-key-of-this-deployment'));
    await page.goto(`${stack.apiUrl}/`);
    await page.getByLabel(/Choose a recording/).setInputFiles(join(FIXTURES, 'hum-phone.m4a'));
    await page.getByRole('heading', { name: 'Your recording' }).waitFor();
    await page.getByRole('button', { name: /Make my song/ }).click();
    await page.getByRole('alert').filter({ hasText: 'That API key was not accepted. Check it and try again.' }).waitFor();
    await expectAccessible(page, 'key refused');
    await page.getByLabel('API key').fill(API_KEY);
    await page.getByRole('button', { name: 'Save key' }).click();
    await page.getByRole('heading', { name: 'Your recording' }).waitFor();
    await page.getByRole('button', { name: /Make my song/ }).click();
    await page.waitForURL(MOMENT_PATH);
    expect(await page.evaluate(() => localStorage.getItem('mcm-api-key'))).toBe(API_KEY);
  });

  it('stops recording by itself at the 15 s limit, and not a moment before', async () => {
    const page = await open(PHONE);
    // The page's clock (timers, Date, performance.now) is Playwright's, and stands still but when the test moves it:
    // 18 s of recording time pass without 18 s of test time, and a slow machine cannot move the display past 0:00 by itself.
    const now = Date.now();
    await page.clock.install({ time: now });
    await page.clock.pauseAt(now + 1_000);
    await page.goto(`${stack.apiUrl}/`);
    await page.getByRole('button', { name: 'Start recording' }).click();
    await page.getByText(/Get ready/).waitFor();
    await page.clock.runFor(3_000);
    await page.getByText(/Recording 0:00/).waitFor();
    await page.clock.runFor(14_000);
    await page.getByText('Recording 0:14 / 0:15').waitFor();
    expect(await page.getByRole('button', { name: 'Stop recording' }).isVisible()).toBe(true);
    await page.clock.runFor(1_200);
    await page.getByRole('heading', { name: 'Your take' }).waitFor();
    expect(await page.getByRole('button', { name: 'Stop recording' }).count()).toBe(0);
  });

  it('says so in plain words when the microphone is blocked', async () => {
    const page = await open(PHONE);
    await page.addInitScript(() => {
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
    });
    await page.goto(`${stack.apiUrl}/`);
    await page.getByRole('button', { name: 'Start recording' }).click();
    await page.getByRole('alert').filter({ hasText: 'The microphone is blocked for this page.' }).waitFor();
    await expectAccessible(page, 'microphone blocked');
  });

  it('shows a FAILED moment with its public message and a try-again button', async () => {
    // Analysis is paused while the stored recording is damaged, so it fails for good when it resumes.
    const analyze = new Queue(stageQueueName('analyze'), { connection: redisOptions(testEnv.config.REDIS_URL), prefix: testEnv.config.QUEUE_PREFIX });
    await analyze.pause();
    let id: string;
    try {
      const client = new MomentsClient({ baseUrl: stack.apiUrl, apiKey: API_KEY });
      ({ id } = await client.createMoment(join(FIXTURES, 'hum-phone.m4a'), { style: 'anthem' }));
      const [original] = await storage.listKeys(`moments/${id}/original`);
      await storage.putBuffer(original, randomBytes(20_000), 'audio/mp4');
    } finally {
      await analyze.resume();
      await analyze.close();
    }

    const page = await open(PHONE);
    await page.goto(`${stack.apiUrl}/m/${id}`);
    await page.getByRole('heading', { name: 'That did not work' }).waitFor({ timeout: 60_000 });
    await expect(page.getByRole('alert').textContent()).resolves.toBe(PUBLIC_ERROR_MESSAGES.AUDIO_UNDECODABLE);
    await expectAccessible(page, 'failed');
    await shoot(page, 'phone-7-failed');
    await page.getByRole('button', { name: 'Try again' }).click();
    await page.getByRole('heading', { name: 'Hum your theme song' }).waitFor();
  });

  it('raised no console error and no CSP refusal in any page', () => {
    expect(browserProblems).toEqual([]);
  });
});
