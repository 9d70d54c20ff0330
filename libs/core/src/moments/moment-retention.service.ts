import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type WorkerConfig } from '../config';
import { StorageRepository, type StoredObject } from '../storage/storage.repository';
import { MomentLifecycle } from './moment-lifecycle.service';
import { MomentsRepository } from './moments.repository';

const DAY_MS = 86_400_000;
const BATCH = 200;
const MOMENT_KEY = /^moments\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/(.+)$/;
/** Where a moment's recording lives: the upload and the stems rendered from it. */
const RECORDING_OBJECT = /^(original\.[^/]+|stems\/.+)$/;

export interface SweepReport {
  /** Moments whose recording and stems expired in this pass. */
  expired: number;
  /** Objects removed: of deleted moments, expired recordings, and objects that have no row. */
  removedObjects: number;
}

/**
 * Keeps storage in step with the rows, on the worker's schedule. Rows decide and objects follow:
 * a pass first records which recordings expired, then walks the bucket and removes every object
 * no live row needs, so an object a failed delete left, or a late stage wrote, goes on the next pass.
 */
@Injectable()
export class MomentRetention {
  private readonly logger = new Logger(MomentRetention.name);

  constructor(
    private readonly moments: MomentsRepository,
    private readonly lifecycle: MomentLifecycle,
    private readonly storage: StorageRepository,
    @Inject(APP_CONFIG) private readonly config: Pick<WorkerConfig, 'RETENTION_DAYS' | 'SWEEP_GRACE_SECONDS'>,
  ) {}

  async sweep(now = new Date()): Promise<SweepReport> {
    const expired = await this.expireRecordings(now);
    const removedObjects = await this.removeUnneededObjects(now);
    if (expired || removedObjects) this.logger.log(`retention: ${expired} recording(s) expired, ${removedObjects} object(s) removed`);
    return { expired, removedObjects };
  }

  /** Marks finished moments older than RETENTION_DAYS as expired; 0 keeps recordings for ever. */
  private async expireRecordings(now: Date): Promise<number> {
    if (!this.config.RETENTION_DAYS) return 0;
    const cutoff = new Date(now.getTime() - this.config.RETENTION_DAYS * DAY_MS);
    let expired = 0;
    for (;;) {
      const ids = await this.moments.findExpirable(cutoff, BATCH);
      let expiredNow = 0;
      for (const id of ids) if (await this.lifecycle.expireRecording(id)) expiredNow += 1;
      expired += expiredNow;
      // A batch that changed nothing would be found again: stop rather than spin.
      if (ids.length < BATCH || !expiredNow) return expired;
    }
  }

  /**
   * Removes the objects of deleted moments, the recordings of expired ones, and objects with no
   * row once they are older than SWEEP_GRACE_SECONDS (an upload is stored just before its row).
   */
  private async removeUnneededObjects(now: Date): Promise<number> {
    const orphanedBefore = now.getTime() - this.config.SWEEP_GRACE_SECONDS * 1000;
    let removed = 0;
    for await (const page of this.storage.listObjects('moments/')) {
      const ids = [...new Set(page.map((object) => MOMENT_KEY.exec(object.key)?.[1]).filter((id): id is string => Boolean(id)))];
      const states = await this.moments.storageStates(ids);
      const unneeded = page.filter((object: StoredObject) => {
        const [, id, name] = MOMENT_KEY.exec(object.key) ?? [];
        const state = id ? states.get(id) : undefined;
        if (!state) return object.lastModified.getTime() < orphanedBefore;
        return state.deleted || (state.expired && RECORDING_OBJECT.test(name));
      });
      await this.storage.deleteKeys(unneeded.map((object) => object.key));
      removed += unneeded.length;
    }
    return removed;
  }
}
