import { Injectable } from '@nestjs/common';
import { MomentStatus } from '@mcm/pipeline';
import { MomentLifecycle, MomentsRepository, WebhookDeliveriesRepository } from '@mcm/core';
import type { AdminJobDto, JobListDto, ListJobsQueryDto, RetryFailedJobsDto, RetryFailedResultDto } from '../dtos/admin.dto';
import type { MomentDto } from '../dtos/moment.dto';
import { AppError } from '../problem/app-error';
import { decodeCursor, encodeCursor } from './job-cursor';
import { MomentViewService } from './moment-view.service';
import { MomentsService, momentDeleted } from './moments.service';

const RETRYABLE: readonly MomentStatus[] = [MomentStatus.Failed, MomentStatus.Canceled];
const SCAN_PAGE = 200;

/** What an operator does with jobs: look at them and resume the ones that stopped. */
@Injectable()
export class AdminService {
  constructor(
    private readonly moments: MomentsRepository,
    private readonly lifecycle: MomentLifecycle,
    private readonly momentsService: MomentsService,
    private readonly view: MomentViewService,
    private readonly webhooks: WebhookDeliveriesRepository,
  ) {}

  async list(query: ListJobsQueryDto): Promise<JobListDto> {
    const cursor = query.cursor ? decodeCursor(query.cursor) : null;
    const rows = await this.moments.list({ status: query.status, limit: query.limit + 1, cursor });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: await Promise.all(page.map((moment) => this.view.toAdminMomentDto(moment))),
      next_cursor: rows.length > query.limit && last ? encodeCursor({ createdAt: last.createdAt, id: last.id }) : null,
    };
  }

  async get(id: string): Promise<AdminJobDto> {
    const moment = await this.momentsService.findOrFail(id);
    const [history, deliveries] = await Promise.all([this.moments.history(moment.id), this.webhooks.forMoment(moment.id)]);
    return this.view.toAdminDto(moment, history, deliveries);
  }

  /** Resumes a FAILED or CANCELED job from the stage that stopped; the machine skips finished stages. */
  async retry(id: string): Promise<MomentDto> {
    const moment = await this.momentsService.findOrFail(id);
    const notRetryable = () => new AppError(409, 'MOMENT_NOT_RETRYABLE', `The job is ${moment.status}; only FAILED or CANCELED jobs can be retried.`);
    if (moment.deletedAt) throw momentDeleted();
    if (moment.assetsExpiredAt) throw new AppError(409, 'MOMENT_EXPIRED', 'The recording of this job expired under the retention policy; it cannot be resumed.');
    if (!RETRYABLE.includes(moment.status)) throw notRetryable();
    const outcome = await this.lifecycle.apply(moment.id, { type: 'RETRY' });
    if (!outcome?.applied) throw notRetryable();
    return this.view.toDto(outcome.moment);
  }

  delete(id: string): Promise<void> {
    return this.momentsService.delete(id, 'operator');
  }

  async retryFailed(filter: RetryFailedJobsDto): Promise<RetryFailedResultDto> {
    const limit = filter.limit ?? 100;
    const status = filter.status?.length ? [...filter.status] : [MomentStatus.Failed];
    const retried: string[] = [];
    let cursor: { createdAt: Date; id: string } | null = null;
    scan: for (;;) {
      const rows = await this.moments.list({ status, resumable: true, limit: SCAN_PAGE, cursor });
      for (const moment of rows) {
        // Newest first: everything after this one is older than the filter allows.
        if (filter.created_after && moment.createdAt < filter.created_after) break scan;
        if (filter.stage && moment.error?.stage !== filter.stage) continue;
        if (filter.code && moment.error?.code !== filter.code) continue;
        const outcome = await this.lifecycle.apply(moment.id, { type: 'RETRY' });
        if (outcome?.applied) retried.push(moment.id);
        if (retried.length >= limit) break scan;
      }
      if (rows.length < SCAN_PAGE) break;
      const last = rows[rows.length - 1];
      cursor = { createdAt: last.createdAt, id: last.id };
    }
    return { retried, count: retried.length };
  }
}
