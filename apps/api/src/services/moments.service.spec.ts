import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OutputKind } from '@mcm/pipeline';
import type { ApiConfig, MomentsRepository, StorageRepository } from '@mcm/core';
import { asAdapter, fakeCore, FakeUploads } from '../../../../test/fakes';
import { MomentViewService } from './moment-view.service';
import { MomentsService } from './moments.service';
import type { UploadService } from './upload.service';

const config = { API_KEYS: ['key-a', 'key-b'], MAX_MOMENTS_IN_FLIGHT_PER_KEY: 2, MAX_RENDER_SECONDS: 600, PUBLIC_BASE_URL: undefined } as unknown as ApiConfig;

function world() {
  const core = fakeCore();
  const uploads = new FakeUploads();
  const storage = asAdapter<StorageRepository>(core.storage);
  const service = new MomentsService(asAdapter<MomentsRepository>(core.moments), core.lifecycle, storage, uploads as unknown as UploadService, new MomentViewService(storage, config), config);
  return { ...core, uploads, service };
}

const problem = (status: number, code: string) => expect.objectContaining({ status, code });

describe('MomentsService', () => {
  it('creates a moment from an upload: the recording is stored under the moment, its analysis is queued, the temporary file goes', async () => {
    const { service, storage, queue, uploads } = world();
    const { moment, replayed } = await service.create(FakeUploads.request({ fields: { style: 'lofi', title: 'Morning' } }), 'key-a');
    expect(replayed).toBe(false);
    expect(moment).toMatchObject({ status: 'PENDING', owner: 'key-a', style: 'lofi', title: 'Morning', originalFilename: 'hum.m4a', outputKind: OutputKind.Preview });
    expect([...storage.objects.keys()]).toEqual([`moments/${moment.id}/original.m4a`]);
    expect(queue.job(moment.id, { stage: 'analyze', run: 1, attempt: 1 })?.state).toBe('waiting');
    expect(uploads.cleanedUp).toBe(1);
  });

  it('answers a replay of the same Idempotency-Key with the first moment, and refuses the key for a different request', async () => {
    const { service, storage, moments } = world();
    const request = { fields: { style: 'lofi' }, idempotencyKey: 'retry-1' };
    const first = await service.create(FakeUploads.request(request), 'key-a');
    const again = await service.create(FakeUploads.request(request), 'key-a');
    expect(again).toMatchObject({ replayed: true, moment: { id: first.moment.id } });
    expect(moments.rows.size).toBe(1);
    expect(storage.objects.size).toBe(1);
    await expect(service.create(FakeUploads.request({ ...request, file: 'another hum' }), 'key-a')).rejects.toEqual(problem(422, 'IDEMPOTENCY_KEY_REUSED'));
    // The same key under another API key is another client's: a new moment.
    expect((await service.create(FakeUploads.request(request), 'key-b')).replayed).toBe(false);
  });

  it('refuses a bad Idempotency-Key before reading the body, and an empty or missing file before storing anything', async () => {
    const { service, storage, uploads } = world();
    await expect(service.create(FakeUploads.request({ idempotencyKey: '' }), null)).rejects.toEqual(problem(400, 'INVALID_IDEMPOTENCY_KEY'));
    expect(uploads.received).toBe(0);
    await expect(service.create(FakeUploads.request({ file: '' }), null)).rejects.toEqual(problem(400, 'FILE_EMPTY'));
    await expect(service.create(FakeUploads.request({ file: null }), null)).rejects.toEqual(problem(400, 'FILE_REQUIRED'));
    await expect(service.create(FakeUploads.request({ fields: { blueprint_json: '{' } }), null)).rejects.toEqual(problem(422, 'BLUEPRINT_INVALID'));
    expect(storage.objects.size).toBe(0);
    expect(uploads.cleanedUp).toBe(3);
  });

  it('caps the moments a key has in flight, lets a replay through, and removes the upload of a refused create', async () => {
    const { service, storage, lifecycle } = world();
    const first = await service.create(FakeUploads.request({ idempotencyKey: 'a' }), 'key-a');
    await service.create(FakeUploads.request({ idempotencyKey: 'b' }), 'key-a');
    await expect(service.checkInFlight('key-a', null)).rejects.toEqual(problem(429, 'TOO_MANY_MOMENTS_IN_FLIGHT'));
    await expect(service.checkInFlight('key-a', 'a')).resolves.toBeUndefined();
    await expect(service.checkInFlight('key-b', null)).resolves.toBeUndefined();
    await expect(service.create(FakeUploads.request({ idempotencyKey: 'c' }), 'key-a')).rejects.toEqual(problem(429, 'TOO_MANY_MOMENTS_IN_FLIGHT'));
    expect(storage.objects.size).toBe(2);
    await lifecycle.apply(first.moment.id, { type: 'CANCEL' });
    expect((await service.create(FakeUploads.request({ idempotencyKey: 'c' }), 'key-a')).replayed).toBe(false);
  });

  it('shows a client only its own moments: another key’s and malformed ids are unknown, deleted ones gone', async () => {
    const { service } = world();
    const { moment } = await service.create(FakeUploads.request({}), 'key-a');
    await expect(service.get(moment.id, 'key-a')).resolves.toMatchObject({ id: moment.id, status: 'PENDING' });
    await expect(service.get(moment.id, 'key-b')).rejects.toEqual(problem(404, 'MOMENT_NOT_FOUND'));
    await expect(service.get('not-a-uuid', 'key-a')).rejects.toEqual(problem(404, 'MOMENT_NOT_FOUND'));
    await service.delete(moment.id, { owner: 'key-a' });
    await expect(service.get(moment.id, 'key-a')).rejects.toEqual(problem(410, 'MOMENT_DELETED'));
  });

  it('cancels a moment in progress once; a finished one is not cancelable', async () => {
    const { service } = world();
    const { moment } = await service.create(FakeUploads.request({}), null);
    await expect(service.cancel(moment.id, null)).resolves.toMatchObject({ status: 'CANCELED' });
    await expect(service.cancel(moment.id, null)).rejects.toEqual(problem(409, 'MOMENT_NOT_CANCELABLE'));
  });

  it('deletes a moment with its objects; one storage could not reach waits for the retention pass; a second delete is 410', async () => {
    const { service, storage, moments } = world();
    const kept = await service.create(FakeUploads.request({}), 'key-a');
    const { moment } = await service.create(FakeUploads.request({ file: 'other' }), 'key-a');
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
