import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { OutputKind } from '@mcm/pipeline';
import type { MomentChangeFeed, MomentsRepository } from '@mcm/core';
import { asAdapter, fakeCore, FakeChangeFeed } from '../../../../test/fakes';
import { MomentWaitService } from './moment-wait.service';

async function world() {
  const core = fakeCore();
  const feed = new FakeChangeFeed();
  const waiter = new MomentWaitService(asAdapter<MomentsRepository>(core.moments), asAdapter<MomentChangeFeed>(feed));
  await waiter.onApplicationBootstrap();
  const moment = await core.lifecycle.create({ momentId: randomUUID(), outputKind: OutputKind.Preview, originalKey: 'moments/x/original.m4a' });
  const reads = vi.spyOn(core.moments, 'findById');
  return { ...core, feed, waiter, moment, reads };
}

describe('MomentWaitService', () => {
  it('reads the moment only when told it changed, and returns once it has ended', async () => {
    const { waiter, feed, lifecycle, moment, reads } = await world();
    const waiting = waiter.untilFinished(moment.id, 30);
    await vi.waitFor(() => expect(waiter.count).toBe(1));
    feed.announce(moment.id);
    await vi.waitFor(() => expect(reads).toHaveBeenCalledTimes(2));
    await lifecycle.apply(moment.id, { type: 'CANCEL' });
    feed.announce(randomUUID());
    feed.announce(moment.id);
    expect(await waiting).toMatchObject({ id: moment.id, status: 'CANCELED' });
    expect(reads).toHaveBeenCalledTimes(3);
    expect(waiter.count).toBe(0);
  });

  it('reads once more when time is up, so an end whose notification was lost is still seen', async () => {
    const { waiter, lifecycle, moment, reads } = await world();
    const waiting = waiter.untilFinished(moment.id, 1);
    await vi.waitFor(() => expect(waiter.count).toBe(1));
    await lifecycle.apply(moment.id, { type: 'CANCEL' });
    expect(await waiting).toMatchObject({ status: 'CANCELED' });
    expect(reads).toHaveBeenCalledTimes(2);
  });

  it('gives up when the client goes away, with the moment as it stands', async () => {
    const { waiter, moment } = await world();
    const gone = new AbortController();
    const waiting = waiter.untilFinished(moment.id, 30, gone.signal);
    await vi.waitFor(() => expect(waiter.count).toBe(1));
    gone.abort();
    expect(await waiting).toMatchObject({ status: 'PENDING' });
    expect(waiter.count).toBe(0);
  });
});
