import { stageJobId, type Stage, type StageJobData, type StageRun } from '@mcm/pipeline';
import type { QueueDepth, StageQueue } from '@mcm/core';
import type { Port } from './port';

export type FakeJobState = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed';

export interface FakeJob {
  id: string;
  data: StageJobData;
  /** The delay the machine asked for, before the queue's jitter. */
  delayMs: number;
  state: FakeJobState;
}

/** Stage runs by job id, in memory; the same id enqueued twice is one job, as in BullMQ. */
export class FakeStageQueue implements Port<StageQueue> {
  readonly jobs = new Map<string, FakeJob>();
  /** Set to make every enqueue fail, as when Redis is down. */
  unreachable = false;

  queue(): never {
    throw new Error('the fake queue has no BullMQ queue: look at `jobs`');
  }

  async enqueue(momentId: string, run: StageRun): Promise<void> {
    if (this.unreachable) throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
    const id = stageJobId(momentId, run);
    if (this.jobs.has(id)) return;
    this.jobs.set(id, { id, data: { momentId, stage: run.stage, run: run.run, attempt: run.attempt }, delayMs: run.delayMs, state: run.delayMs > 0 ? 'delayed' : 'waiting' });
  }

  async isLive(momentId: string, run: StageRun): Promise<boolean> {
    const state = this.jobs.get(stageJobId(momentId, run))?.state;
    return state === 'waiting' || state === 'delayed' || state === 'active';
  }

  async revive(momentId: string, run: StageRun): Promise<void> {
    this.jobs.delete(stageJobId(momentId, run));
    await this.enqueue(momentId, { ...run, delayMs: 0 });
  }

  async removePending(momentId: string, runs: StageRun[]): Promise<void> {
    for (const run of runs) {
      const id = stageJobId(momentId, run);
      if (this.jobs.get(id)?.state !== 'active') this.jobs.delete(id);
    }
  }

  async depth(stage: Stage): Promise<QueueDepth> {
    const jobs = [...this.jobs.values()].filter((job) => job.data.stage === stage);
    const count = (state: FakeJobState) => jobs.filter((job) => job.state === state).length;
    return { stage, waiting: count('waiting'), active: count('active'), delayed: count('delayed'), oldestWaitingSeconds: 0 };
  }

  async isReachable(): Promise<boolean> {
    return !this.unreachable;
  }

  job(momentId: string, run: Pick<StageRun, 'stage' | 'run' | 'attempt'>): FakeJob | undefined {
    return this.jobs.get(stageJobId(momentId, run));
  }
}
