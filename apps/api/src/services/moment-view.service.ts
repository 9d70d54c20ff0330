import { Inject, Injectable } from '@nestjs/common';
import { errorDetail } from '@mcm/pipeline';
import { APP_CONFIG, ASSET_NAMES, MomentViewBuilder, stateLabel, type ApiConfig, type MomentEntity, type MomentTransitionEntity, type MomentViewSource, type WebhookDeliveryEntity } from '@mcm/core';
import type { AdminJobDto, AdminMomentDto, TransitionDto } from '../dtos/admin.dto';
import type { MomentDto } from '../dtos/moment.dto';

/** Turns stored moments into API objects; URLs are presigned here, at read time, and never stored. */
@Injectable()
export class MomentViewService {
  constructor(
    private readonly builder: MomentViewBuilder,
    @Inject(APP_CONFIG) private readonly config: Pick<ApiConfig, 'PUBLIC_BASE_URL'>,
  ) {}

  /** Relative unless `PUBLIC_BASE_URL` says where the API is reached. */
  url(path: string): string {
    return this.config.PUBLIC_BASE_URL ? `${this.config.PUBLIC_BASE_URL.replace(/\/+$/, '')}${path}` : path;
  }

  toDto(moment: MomentViewSource): Promise<MomentDto> {
    return this.builder.build(moment);
  }

  /** Whether `view`, built from a moment with these `assets`, still carries the URLs a new build would. */
  urlsCurrent(view: MomentDto, assets: MomentViewSource['assets']): Promise<boolean> {
    return this.builder.urlsCurrent(view, assets);
  }

  /** Operators also see the raw cause of a failure. */
  async toAdminMomentDto(moment: MomentEntity): Promise<AdminMomentDto> {
    return { ...(await this.toDto(moment)), error_detail: errorDetail(moment.error) };
  }

  async toAdminDto(moment: MomentEntity, history: MomentTransitionEntity[], deliveries: WebhookDeliveryEntity[]): Promise<AdminJobDto> {
    const { value, context } = moment.snapshot;
    return {
      ...(await this.toAdminMomentDto(moment)),
      machine: {
        version: moment.machineVersion,
        state: stateLabel(value),
        value,
        context: {
          runs: context.runs,
          attempts: context.attempts,
          total_attempts: context.totalAttempts,
          has_analysis: context.analysis !== null,
          has_blueprint: context.blueprint !== null,
          validated: context.validated,
          assets: ASSET_NAMES.filter((name) => Boolean(context.assets[name])),
          mix: context.mix,
        },
      },
      history: history.map((row): TransitionDto => ({
        event_type: row.eventType,
        stage: row.stage as TransitionDto['stage'],
        from_state: row.fromState,
        to_state: row.toState,
        applied: row.applied,
        detail: row.detail,
        created_at: row.createdAt.toISOString(),
      })),
      webhook_deliveries: deliveries.map((delivery) => ({ id: delivery.id, event: delivery.eventType, state: delivery.state, attempts: delivery.attempts })),
    };
  }
}
