import { describe, expect, it } from 'vitest';
import { MomentStatus, type Stage } from '@mcm/pipeline';
import type { MomentPoint } from '@mcm/core';
import { momentEvents } from './moment-events.service';

const point = (seq: number, status: MomentStatus, stage: Stage | null, progress: number): MomentPoint => ({ seq: BigInt(seq), status, stage, progress });

describe('momentEvents', () => {
  const history = [
    point(1, MomentStatus.Pending, 'analyze', 0),
    point(2, MomentStatus.Analyzing, 'analyze', 0),
    point(3, MomentStatus.Analyzing, 'compose', 0.15),
    point(4, MomentStatus.Analyzing, 'compose', 0.15),
    point(5, MomentStatus.Failed, 'compose', 0.15),
    point(6, MomentStatus.Analyzing, 'compose', 0.15),
    point(7, MomentStatus.Completed, null, 1),
  ];

  it('names one event per change of status, stage or progress, and none for a row that changed none of them', () => {
    expect(momentEvents(null, history).map(({ point: p, event }) => `${p.seq}:${event}`)).toEqual([
      '1:moment.status',
      '2:moment.status',
      '3:moment.progress',
      '5:moment.failed',
      '6:moment.status',
      '7:moment.completed',
    ]);
  });

  it('starts after the point the reader knows, without repeating it', () => {
    expect(momentEvents(history[2], history.slice(2)).map(({ point: p }) => p.seq)).toEqual([5n, 6n, 7n]);
    expect(momentEvents(history[6], history.slice(6))).toEqual([]);
  });
});
