import { Inject, Injectable } from '@nestjs/common';
import { errorDetail, publicMomentError, type AssetName } from '@mcm/pipeline';
import { APP_CONFIG, StorageRepository, stateLabel, type ApiConfig, type MomentEntity, type MomentTransitionEntity } from '@mcm/core';
import type { AdminJobDto, AdminMomentDto, TransitionDto } from '../dtos/admin.dto';
import type { MomentAssetsDto, MomentDto } from '../dtos/moment.dto';

const ASSET_NAMES: AssetName[] = ['original', 'vocals', 'instrumental', 'preview', 'master', 'midi', 'peaks'];

/** Turns stored moments into API objects; URLs are presigned here, at read time, and never stored. */
@Injectable()
export class MomentViewService {
  constructor(
    private readonly storage: StorageRepository,
    @Inject(APP_CONFIG) private readonly config: Pick<ApiConfig, 'PUBLIC_BASE_URL'>,
  ) {}

  /** Relative unless `PUBLIC_BASE_URL` says where the API is reached. */
  url(path: string): string {
    return this.config.PUBLIC_BASE_URL ? `${this.config.PUBLIC_BASE_URL.replace(/\/+$/, '')}${path}` : path;
  }

  async toDto(moment: MomentEntity): Promise<MomentDto> {
    const stored = moment.assets ?? {};
    const urls = await Promise.all(
      ASSET_NAMES.map(async (name) => {
        const key = stored[name];
        return key ? this.storage.presignGet(key) : null;
      }),
    );
    const assets = Object.fromEntries(ASSET_NAMES.map((name, index) => [name, urls[index]])) as unknown as MomentAssetsDto;
    return {
      id: moment.id,
      job_id: moment.id,
      status: moment.status,
      stage: moment.stage,
      progress: moment.progress,
      output_kind: moment.outputKind,
      style: moment.style,
      title: moment.title,
      original_filename: moment.originalFilename,
      original_audio_url: assets.original,
      final_audio_url: assets.preview ?? assets.master,
      blueprint_json: moment.blueprint,
      assets,
      analysis: moment.analysis,
      error: publicMomentError(moment.error),
      attempts: moment.attempts,
      created_at: moment.createdAt.toISOString(),
      updated_at: moment.updatedAt.toISOString(),
      completed_at: moment.completedAt?.toISOString() ?? null,
      timings_ms: moment.timingsMs ?? {},
      assets_expired_at: moment.assetsExpiredAt?.toISOString() ?? null,
      deleted_at: moment.deletedAt?.toISOString() ?? null,
    };
  }

  /** Operators also see the raw cause of a failure. */
  async toAdminMomentDto(moment: MomentEntity): Promise<AdminMomentDto> {
    return { ...(await this.toDto(moment)), error_detail: errorDetail(moment.error) };
  }

  async toAdminDto(moment: MomentEntity, history: MomentTransitionEntity[]): Promise<AdminJobDto> {
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
      history: history.map(
        (row): TransitionDto => ({
          event_type: row.eventType,
          stage: row.stage as TransitionDto['stage'],
          from_state: row.fromState,
          to_state: row.toState,
          applied: row.applied,
          detail: row.detail,
          created_at: row.createdAt.toISOString(),
        }),
      ),
    };
  }
}
