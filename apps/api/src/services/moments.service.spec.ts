import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OutputKind } from '@mcm/pipeline';
import { MomentViewBuilder, OutboundGuard, type ApiConfig, type MomentChangeFeed, type MomentsRepository, type StorageRepository } from '@mcm/core';
import { asAdapter, fakeCore, FakeChangeFeed, FakeUploads, type FakeRequestBody } from '../../../../test/fakes';
import type { CreateMomentFormDto } from '../dtos/create-moment.dto';
import { AppError } from '../problem/app-error';
import { MomentViewService } from './moment-view.service';
import { MomentWaitService } from './moment-wait.service';
import { MomentsService } from './moments.service';
import type { UploadService } from './upload.service';

const config = { API_KEYS: ['key-a', 'key-b'], MAX_MOMENTS_IN_FLIGHT_PER_KEY: 2, MAX_RENDER_SECONDS: 600, PUBLIC_BASE_URL: undefined } as unknown as ApiConfig;

function world(settings: Partial<ApiConfig> = {}, allowPrivate = false) {
  const core = fakeCore();
  const uploads = new FakeUploads();
  const storage = asAdapter<StorageRepository>(core.storage);
  const moments = asAdapter<MomentsRepository>(core.moments);
  const feed = new FakeChangeFeed();
  const waiter = new MomentWaitService(moments, asAdapter<MomentChangeFeed>(feed));
  const merged = { ...config, ...settings };
  const service = new MomentsService(
    moments,
    core.lifecycle,
    storage,
    uploads as unknown as UploadService,
    new MomentViewService(new MomentViewBuilder(storage), merged),
    merged,
    new OutboundGuard({ allowPrivate }),
    waiter,
  );
  /** What the controller does with a received request: one command into the service. */
  const create = async (body: FakeRequestBody, owner: string | null) => service.create(await uploads.command(body, owner));
  worlds.push(uploads);
  return { ...core, uploads, service, create, feed, waiter };
}

const worlds: FakeUploads[] = [];
afterEach(async () => {
  await Promise.all(worlds.splice(0).map((uploads) => uploads.cleanup()));
});

const problem = (status: number, code: string) => expect.objectContaining({ status, code });

describe('MomentsService', () => {
  it('creates a moment from an upload: the recording is stored under the moment, its analysis is queued', async () => {
    const { storage, queue, create } = world();
    const { moment, replayed } = await create({ fields: { style: 'lofi', title: 'Morning' } }, 'key-a');
    expect(replayed).toBe(false);
    expect(moment).toMatchObject({ status: 'PENDING', owner: 'key-a', style: 'lofi', title: 'Morning', originalFilename: 'hum.m4a', outputKind: OutputKind.Preview });
    expect([...storage.objects.keys()]).toEqual([`moments/${moment.id}/original.m4a`]);
    expect(queue.job(moment.id, { stage: 'analyze', run: 1, attempt: 1 })?.state).toBe('waiting');
  });

  it('answers a replay of the same Idempotency-Key with the first moment, and refuses the key for a different request', async () => {
    const { storage, moments, create } = world();
    const request = { fields: { style: 'lofi' }, idempotencyKey: 'retry-1' };
    const first = await create(request, 'key-a');
    const again = await create(request, 'key-a');
    expect(again).toMatchObject({ replayed: true, moment: { id: first.moment.id } });
    expect(moments.rows.size).toBe(1);
    expect(storage.objects.size).toBe(1);
    await expect(create({ ...request, file: 'another hum' }, 'key-a')).rejects.toEqual(problem(422, 'IDEMPOTENCY_KEY_REUSED'));
    // The same key under another API key is another client's: a new moment.
    expect((await create(request, 'key-b')).replayed).toBe(false);
  });

  it('refuses an empty or missing file and an invalid blueprint before checking or storing anything', async () => {
    const { storage, uploads, create } = world();
    await expect(create({ file: '' }, null)).rejects.toEqual(problem(400, 'FILE_EMPTY'));
    await expect(create({ file: null }, null)).rejects.toEqual(problem(400, 'FILE_REQUIRED'));
    await expect(create({ fields: { blueprint_json: '{' } }, null)).rejects.toEqual(problem(422, 'BLUEPRINT_INVALID'));
    expect(storage.objects.size).toBe(0);
    expect(uploads.checked).toBe(0);
  });

  it('checks the audio once before storing it, never for a replay, and stores nothing the check refuses', async () => {
    const { storage, moments, uploads, create } = world();
    await create({ idempotencyKey: 'once' }, 'key-a');
    await create({ idempotencyKey: 'once' }, 'key-a');
    expect(uploads.checked).toBe(1);
    uploads.refusal = new AppError(422, 'AUDIO_UNDECODABLE', 'The audio cannot be decoded.');
    await expect(create({ file: 'not audio' }, 'key-a')).rejects.toEqual(problem(422, 'AUDIO_UNDECODABLE'));
    expect(uploads.checked).toBe(2);
    expect(storage.objects.size).toBe(1);
    expect(moments.rows.size).toBe(1);
  });

  it('caps the moments a key has in flight, lets a replay through, and removes the upload of a refused create', async () => {
    const { service, storage, lifecycle, create } = world();
    const first = await create({ idempotencyKey: 'a' }, 'key-a');
    await create({ idempotencyKey: 'b' }, 'key-a');
    await expect(service.checkInFlight('key-a', null)).rejects.toEqual(problem(429, 'TOO_MANY_MOMENTS_IN_FLIGHT'));
    await expect(service.checkInFlight('key-a', 'a')).resolves.toBeUndefined();
    await expect(service.checkInFlight('key-b', null)).resolves.toBeUndefined();
    await expect(create({ idempotencyKey: 'c' }, 'key-a')).rejects.toEqual(problem(429, 'TOO_MANY_MOMENTS_IN_FLIGHT'));
    expect(storage.objects.size).toBe(2);
    await lifecycle.apply(first.moment.id, { type: 'CANCEL' });
    expect((await create({ idempotencyKey: 'c' }, 'key-a')).replayed).toBe(false);
  });

  it('shows a client only its own moments: another key’s and malformed ids are unknown, deleted ones gone', async () => {
    const { service, create } = world();
    const { moment } = await create({}, 'key-a');
    await expect(service.get(moment.id, 'key-a')).resolves.toMatchObject({ id: moment.id, status: 'PENDING' });
    await expect(service.get(moment.id, 'key-b')).rejects.toEqual(problem(404, 'MOMENT_NOT_FOUND'));
    await expect(service.get('not-a-uuid', 'key-a')).rejects.toEqual(problem(404, 'MOMENT_NOT_FOUND'));
    await service.delete(moment.id, { owner: 'key-a' });
    await expect(service.get(moment.id, 'key-a')).rejects.toEqual(problem(410, 'MOMENT_DELETED'));
  });

  it('answers a poll of an unchanged moment with the view it built, and builds a new one after a change or a renewed URL', async () => {
    const { service, storage, create } = world();
    const { moment } = await create({}, 'key-a');
    const first = await service.get(moment.id, 'key-a');
    expect(await service.get(moment.id.toUpperCase(), 'key-a')).toBe(first);

    const renewed = vi.spyOn(storage, 'presignGet').mockImplementation(async (key: string) => `https://storage.test/renewed/${key}`);
    const afterRenewal = await service.get(moment.id, 'key-a');
    expect(afterRenewal).not.toBe(first);
    expect(afterRenewal.original_audio_url).toBe(`https://storage.test/renewed/moments/${moment.id}/original.m4a`);
    renewed.mockRestore();

    await service.cancel(moment.id, 'key-a');
    const canceled = await service.get(moment.id, 'key-a');
    expect(canceled).toMatchObject({ status: 'CANCELED' });
    expect(await service.get(moment.id, 'key-a')).toBe(canceled);
  });

  it('cancels a moment in progress once; a finished one is not cancelable', async () => {
    const { service, create } = world();
    const { moment } = await create({}, null);
    await expect(service.cancel(moment.id, null)).resolves.toMatchObject({ status: 'CANCELED' });
    await expect(service.cancel(moment.id, null)).rejects.toEqual(problem(409, 'MOMENT_NOT_CANCELABLE'));
  });

  it('deletes a moment with its objects; one storage could not reach waits for the retention pass; a second delete is 410', async () => {
    const { service, storage, moments, create } = world();
    const kept = await create({}, 'key-a');
    const { moment } = await create({ file: 'other' }, 'key-a');
    await expect(service.delete(moment.id, { owner: 'key-b' })).rejects.toEqual(problem(404, 'MOMENT_NOT_FOUND'));
    await service.delete(moment.id, { owner: 'key-a' });
    expect([...storage.objects.keys()]).toEqual([`moments/${kept.moment.id}/original.m4a`]);
    await expect(service.delete(moment.id, 'operator')).rejects.toEqual(problem(410, 'MOMENT_DELETED'));

    storage.unreachable = true;
    await service.delete(kept.moment.id, 'operator');
    expect((await moments.findById(kept.moment.id))?.deletedAt).toBeInstanceOf(Date);
    expect(storage.objects.size).toBe(1);
    await expect(service.delete(randomUUID(), 'operator')).rejects.toEqual(problem(404, 'MOMENT_NOT_FOUND'));
  });

  describe('webhooks', () => {
    const SECRET = { WEBHOOK_SECRET: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] };
    /** The form as the validation pipe hands it on: `webhook_events` already a list. */
    const form = (fields: Partial<CreateMomentFormDto>) => fields as Record<string, string>;

    it('stores the URL and the events of a webhook the deployment can sign for and reach', async () => {
      const { create, moments } = world(SECRET);
      const { moment } = await create({ fields: form({ webhook_url: 'https://93.184.216.34/hooks?token=abc', webhook_events: ['progress', 'completed', 'progress'] }) }, 'key-a');
      expect(await moments.findById(moment.id)).toMatchObject({ webhookUrl: 'https://93.184.216.34/hooks?token=abc', webhookEvents: ['progress', 'completed'] });
      const plain = await create({ fields: {} }, 'key-b');
      expect(await moments.findById(plain.moment.id)).toMatchObject({ webhookUrl: null, webhookEvents: null });
    });

    it('refuses, before anything is stored, a webhook without a secret, off https, with credentials, to a non-public address, or events without a URL', async () => {
      const refusals: Array<[Partial<ApiConfig>, Partial<CreateMomentFormDto>, string]> = [
        [{}, { webhook_url: 'https://93.184.216.34/hooks' }, 'WEBHOOKS_NOT_CONFIGURED'],
        [SECRET, { webhook_url: 'http://93.184.216.34/hooks' }, 'WEBHOOK_URL_INVALID'],
        [SECRET, { webhook_url: 'not a url' }, 'WEBHOOK_URL_INVALID'],
        [SECRET, { webhook_url: 'https://user:pass@93.184.216.34/hooks' }, 'WEBHOOK_URL_INVALID'],
        [SECRET, { webhook_url: 'https://127.0.0.1/hooks' }, 'WEBHOOK_URL_REFUSED'],
        [SECRET, { webhook_url: 'https://169.254.169.254/latest/meta-data' }, 'WEBHOOK_URL_REFUSED'],
        [SECRET, { webhook_url: 'https://[fd00::1]/x' }, 'WEBHOOK_URL_REFUSED'],
        [SECRET, { webhook_events: ['completed'] }, 'WEBHOOK_URL_REQUIRED'],
      ];
      for (const [settings, fields, code] of refusals) {
        const { create, storage, uploads } = world(settings);
        await expect(create({ fields: form(fields) }, 'key-a'), JSON.stringify(fields)).rejects.toEqual(problem(422, code));
        expect(storage.objects.size).toBe(0);
        expect(uploads.checked).toBe(0);
      }
    });

    it('takes a local http receiver when OUTBOUND_ALLOW_PRIVATE allows it', async () => {
      const { create } = world(SECRET, true);
      const { moment } = await create({ fields: { webhook_url: 'http://127.0.0.1:9999/hooks' } }, 'key-a');
      expect(moment.webhookUrl).toBe('http://127.0.0.1:9999/hooks');
    });
  });

  describe('Prefer: wait', () => {
    it('answers with the finished moment when it ends within the wait, woken by the change feed', async () => {
      const { service, uploads, lifecycle, feed, waiter } = world();
      await waiter.onApplicationBootstrap();
      const answer = service.createMoment(await uploads.command({ fields: {} }, 'key-a'), 30);
      await vi.waitFor(() => expect(waiter.count).toBe(1));
      const [moment] = await service['moments'].list({ limit: 1 });
      await lifecycle.apply(moment.id, { type: 'CANCEL', reason: 'test' });
      feed.announce(moment.id);
      expect(await answer).toEqual({ finished: expect.objectContaining({ id: moment.id, status: 'CANCELED' }) });
      expect(waiter.count).toBe(0);
    });

    it('answers as without it when the wait runs out, and at once for a replay of a finished moment', async () => {
      const { service, uploads, lifecycle } = world();
      const started = await service.createMoment(await uploads.command({ fields: {}, idempotencyKey: 'k-1' }, 'key-a'), 1);
      expect(started.accepted).toMatchObject({ status: 'PENDING' });
      await lifecycle.apply(started.accepted!.id, { type: 'CANCEL' });
      const replay = await service.createMoment(await uploads.command({ fields: {}, idempotencyKey: 'k-1' }, 'key-a'), 60);
      expect(replay.finished).toMatchObject({ id: started.accepted!.id, status: 'CANCELED' });
    });
  });
});
