import { Injectable } from '@nestjs/common';
import { AppMetrics, MomentsRepository } from '@mcm/core';

/** What the api's `/metrics` serves: its HTTP requests, the moments it ended (cancels, deletes), and moments by status read from Postgres per scrape. */
@Injectable()
export class MetricsService {
  constructor(
    private readonly metrics: AppMetrics,
    moments: MomentsRepository,
  ) {
    // The api reports the deployment's moments by status; the workers report the queues they serve.
    metrics.watchMomentStatuses(() => moments.countByStatus());
  }

  scrape(): Promise<{ contentType: string; body: string }> {
    return this.metrics.exposition();
  }
}
