import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { OutputKind } from '@mcm/pipeline';
import { MomentViewBuilder, type ApiConfig, type MomentsRepository, type StorageRepository } from '@mcm/core';
import { asAdapter, fakeCore, FakeUploads, type FakeRequestBody } from '../../../../test/fakes';
import { AppError } from '../problem/app-error';
import { MomentViewService } from './moment-view.service';
import { MomentsService } from './moments.service';
import type { UploadService } from './upload.service';

const config = { API_KEYS: ['key-a', 'key-b'], MAX_MOMENTS_IN_FLIGHT_PER_KEY: 2, MAX_RENDER_SECONDS: 600, PUBLIC_BASE_URL: undefined } as unknown as ApiConfig;

function world() {
  const core = fakeCore();
  const uploads = new FakeUploads();
  const storage = asAdapter<StorageRepository>(core.storage);
  const service = new MomentsService(asAdapter<MomentsRepository>(core.moments), core.lifecycle, storage, uploads as unknown as UploadService, new MomentViewService(new MomentViewBuilder(storage), config), config);
  /** What the controller does with a received request: one command into the service. */
  const create = async (body: FakeRequestBody, owner: string | null) => service.create(await uploads.command(body, owner));
  worlds.push(uploads);
  return { ...core, uploads, service, create };
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
});
