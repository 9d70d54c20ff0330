import type { Queue } from 'bullmq';

/** The job-scheduler half of a BullMQ queue, in memory; `emptied()` loses the schedules as a flushed Redis would. */
export class FakeSchedulerQueue {
  readonly schedulers = new Map<string, { every: number; name: string }>();
  upserts = 0;
  unreachable = false;

  async getJobScheduler(id: string): Promise<{ every: number } | undefined> {
    if (this.unreachable) throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
    return this.schedulers.get(id);
  }

  async upsertJobScheduler(id: string, repeat: { every: number }, template: { name: string }): Promise<void> {
    if (this.unreachable) throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
    this.upserts += 1;
    this.schedulers.set(id, { every: repeat.every, name: template.name });
  }

  emptied(): void {
    this.schedulers.clear();
  }

  /** Only the scheduler calls are offered: a processor that reaches for more fails loudly in the spec. */
  asQueue(): Queue {
    return this as unknown as Queue;
  }
}
