import { Injectable } from '@nestjs/common';
import { publicMomentError, type AssetName } from '@mcm/pipeline';
import type { MomentEntity } from '../database/moment.entity';
import { StorageRepository } from '../storage/storage.repository';

export const ASSET_NAMES: AssetName[] = ['original', 'vocals', 'instrumental', 'preview', 'master', 'midi', 'peaks'];

/** The columns the public view is made of: a read loads these and not the machine snapshot. */
export const MOMENT_VIEW_COLUMNS = [
  'id',
  'status',
  'stage',
  'progress',
  'outputKind',
  'style',
  'title',
  'originalFilename',
  'blueprint',
  'assets',
  'analysis',
  'error',
  'attempts',
  'createdAt',
  'updatedAt',
  'completedAt',
  'timingsMs',
  'assetsExpiredAt',
  'deletedAt',
] as const satisfies ReadonlyArray<keyof MomentEntity>;

/** What the public view needs of a moment. */
export type MomentViewSource = Pick<MomentEntity, (typeof MOMENT_VIEW_COLUMNS)[number]>;

/**
 * The public moment object, as `GET /v1/moments/{id}` answers and webhooks carry it. URLs are
 * presigned here, when it is built, and never stored.
 */
@Injectable()
export class MomentViewBuilder {
  constructor(private readonly storage: StorageRepository) {}

  async build(moment: MomentViewSource) {
    const stored = moment.assets ?? {};
    const urls = await Promise.all(ASSET_NAMES.map(async (name) => (stored[name] ? this.storage.presignGet(stored[name]) : null)));
    const assets = Object.fromEntries(ASSET_NAMES.map((name, index) => [name, urls[index]])) as Record<AssetName, string | null>;
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

  /**
   * Whether every URL of a view built from a moment with `stored` assets is still the one the presign
   * cache hands out for its object: none renewed since, so the view may be answered again as it is.
   */
  async urlsCurrent(view: Pick<MomentView, 'assets'>, stored: MomentViewSource['assets']): Promise<boolean> {
    for (const name of ASSET_NAMES) {
      const key = stored?.[name];
      if (key && (await this.storage.presignGet(key)) !== view.assets[name]) return false;
    }
    return true;
  }
}

export type MomentView = Awaited<ReturnType<MomentViewBuilder['build']>>;
