import type { MomentViewSource } from '@mcm/core';
import type { MomentDto } from '../dtos/moment.dto';

/** A view answered to a client's read, with the row version it was built from and the objects its URLs point at. */
export interface ReadView {
  version: string;
  assets: MomentViewSource['assets'];
  view: MomentDto;
}

/**
 * The views of the moments read most recently, by id, at most `maxEntries` (the least recently read go
 * first). A poll that finds the row at the same version, and every URL still current, answers the same
 * object again: no JSON parsed, no view built, and its serialised body and ETag are reused.
 */
export class ReadViewCache {
  private readonly entries = new Map<string, ReadView>();

  constructor(private readonly maxEntries = 1_000) {}

  get(id: string): ReadView | undefined {
    const entry = this.entries.get(id);
    if (entry) {
      this.entries.delete(id);
      this.entries.set(id, entry);
    }
    return entry;
  }

  set(id: string, entry: ReadView): void {
    this.entries.delete(id);
    this.entries.set(id, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}
