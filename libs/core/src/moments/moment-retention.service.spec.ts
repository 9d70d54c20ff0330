import { describe, expect, it } from 'vitest';
import type { StorageRepository, StoredObject } from '../storage/storage.repository';
import type { MomentLifecycle } from './moment-lifecycle.service';
import { MomentRetention } from './moment-retention.service';
import type { MomentsRepository } from './moments.repository';

const NOW = new Date('2026-03-01T12:00:00Z');
const LIVE = '11111111-1111-4111-8111-111111111111';
const DELETED = '22222222-2222-4222-8222-222222222222';
const EXPIRED = '33333333-3333-4333-8333-333333333333';
const ORPHAN = '44444444-4444-4444-8444-444444444444';
const minutesAgo = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000);

/** Storage as a list of objects; pages of two so the pass has to walk the listing. */
function fakeStorage(objects: StoredObject[]) {
  const stored = new Map(objects.map((object) => [object.key, object]));
  return {
    stored,
    storage: {
      async *listObjects(prefix: string) {
        const keys = [...stored.values()].filter((object) => object.key.startsWith(prefix)).sort((a, b) => a.key.localeCompare(b.key));
        for (let i = 0; i < keys.length; i += 2) yield keys.slice(i, i + 2);
      },
      async deleteKeys(keys: string[]) {
        for (const key of keys) stored.delete(key);
      },
    } as unknown as StorageRepository,
  };
}

function retention(objects: StoredObject[], options: { retentionDays?: number; expirable?: string[][] } = {}) {
  const { stored, storage } = fakeStorage(objects);
  const batches = [...(options.expirable ?? [])];
  const asked: Date[] = [];
  const moments = {
    async findExpirable(cutoff: Date) {
      asked.push(cutoff);
      return batches.shift() ?? [];
    },
    async storageStates(ids: string[]) {
      const rows = new Map([
        [LIVE, { deleted: false, expired: false }],
        [DELETED, { deleted: true, expired: false }],
        [EXPIRED, { deleted: false, expired: true }],
      ]);
      return new Map(ids.filter((id) => rows.has(id)).map((id) => [id, rows.get(id)!]));
    },
  } as unknown as MomentsRepository;
  const expired: string[] = [];
  const lifecycle = {
    async expireRecording(id: string) {
      if (id === 'refused') return false;
      expired.push(id);
      return true;
    },
  } as unknown as MomentLifecycle;
  const service = new MomentRetention(moments, lifecycle, storage, { RETENTION_DAYS: options.retentionDays ?? 30, SWEEP_GRACE_SECONDS: 3600 });
  return { service, stored, asked, expired };
}

const object = (key: string, minutes = 5): StoredObject => ({ key, lastModified: minutesAgo(minutes) });

describe('MomentRetention', () => {
  it('removes what no live row needs and keeps everything else', async () => {
    const { service, stored } = retention([
      object(`moments/${LIVE}/original.m4a`),
      object(`moments/${LIVE}/stems/vocals.wav`),
      object(`moments/${DELETED}/preview.mp3`),
      object(`moments/${DELETED}/stems/vocals.wav`, 0),
      object(`moments/${EXPIRED}/original.webm`),
      object(`moments/${EXPIRED}/stems/instrumental.wav`),
      object(`moments/${EXPIRED}/preview.mp3`),
      object(`moments/${EXPIRED}/arrangement.mid`),
      object(`moments/${ORPHAN}/original.wav`, 61),
      object(`moments/${ORPHAN}/original.m4a`, 59),
      object('moments/not-a-uuid/x', 120),
    ]);
    const report = await service.sweep(NOW);
    expect([...stored.keys()].sort()).toEqual(
      [`moments/${LIVE}/original.m4a`, `moments/${LIVE}/stems/vocals.wav`, `moments/${EXPIRED}/preview.mp3`, `moments/${EXPIRED}/arrangement.mid`, `moments/${ORPHAN}/original.m4a`].sort(),
    );
    expect(report).toEqual({ expired: 0, removedObjects: 6 });
  });

  it('expires moments older than RETENTION_DAYS, batch after batch, and stops when a batch changes nothing', async () => {
    const full = Array.from({ length: 200 }, (_, i) => `moment-${i}`);
    const { service, asked, expired } = retention([], { expirable: [full, ['refused'], ['never-asked']] });
    expect((await service.sweep(NOW)).expired).toBe(200);
    expect(expired).toHaveLength(200);
    expect(asked).toHaveLength(2);
    expect(asked[0]).toEqual(new Date('2026-01-30T12:00:00Z'));
  });

  it('keeps recordings for ever with RETENTION_DAYS=0', async () => {
    const { service, asked } = retention([], { retentionDays: 0, expirable: [['moment-1']] });
    expect((await service.sweep(NOW)).expired).toBe(0);
    expect(asked).toEqual([]);
  });
});
