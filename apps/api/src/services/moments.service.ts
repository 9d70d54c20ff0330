import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { MAX_BLUEPRINT_DEPTH, OutputKind, TERMINAL_STATUSES, nestsDeeperThan, renderTooLong, storageKey, validateBlueprint, type Blueprint } from '@mcm/pipeline';
import {
  APP_CONFIG,
  IdempotencyConflict,
  InFlightLimitReached,
  MOMENT_ID,
  MomentLifecycle,
  MomentsRepository,
  OutboundGuard,
  OutboundRefusedError,
  StorageRepository,
  type ApiConfig,
  type DeletedBy,
  type MomentEntity,
  type WebhookEvent,
} from '@mcm/core';
import type { CompatCreateMomentResponseDto, CreateMomentResponseDto, FinishedMomentDto } from '../dtos/create-moment.dto';
import type { MomentDto } from '../dtos/moment.dto';
import { AppError } from '../problem/app-error';
import { MomentViewService } from './moment-view.service';
import { MomentWaitService } from './moment-wait.service';
import { ReadViewCache } from './read-views';
import type { CreateMomentCommand, ReceivedUpload } from './create-moment.command';
import { UploadService, type SniffedType } from './upload.service';

export interface CreatedMoment {
  moment: MomentEntity;
  /** True when an earlier request with the same Idempotency-Key made it. */
  replayed: boolean;
}

/** Where a moment's events go, once checked. */
interface WebhookTarget {
  url: string;
  events: WebhookEvent[] | null;
}

/** What a create answers: the finished moment when `Prefer: wait` saw it end, else the accepted one. */
export type CreateMomentAnswer = { finished: FinishedMomentDto; accepted?: never } | { accepted: CreateMomentResponseDto; finished?: never };

/** What `store` needs once every check passed. */
interface CheckedCreate {
  command: CreateMomentCommand;
  blueprint: Blueprint | null;
  webhook: WebhookTarget | null;
  recording: ReceivedUpload & { path: string };
  type: SniffedType;
  requestHash: string;
}

/** A moment takes about half a minute: the earliest a slot may be free again. */
export const IN_FLIGHT_RETRY_AFTER_SECONDS = 30;

function tooManyInFlight(limit: number, bodyUnread: boolean): AppError {
  return new AppError(429, 'TOO_MANY_MOMENTS_IN_FLIGHT', `This API key already has ${limit} moments in progress, the most it may have at once. Try again when one has finished.`, {
    headers: { 'Retry-After': String(IN_FLIGHT_RETRY_AFTER_SECONDS) },
    bodyUnread,
  });
}

/** JSON with sorted keys, so equal values hash equally. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** The recording part, present and not empty. */
function requireRecording(upload: ReceivedUpload): CheckedCreate['recording'] {
  if (!upload.path) throw new AppError(400, 'FILE_REQUIRED', 'Attach the recording as the `file` part.');
  if (upload.size === 0) throw new AppError(400, 'FILE_EMPTY', 'The uploaded file is empty.');
  return { ...upload, path: upload.path };
}

/** `found` when `owner` may see it (`undefined`: an operator, who sees all); 404 otherwise. */
function visibleTo<T extends Pick<MomentEntity, 'owner'>>(found: T | null, owner?: string | null): T {
  if (!found || (owner !== undefined && (found.owner ?? null) !== owner)) throw new AppError(404, 'MOMENT_NOT_FOUND', 'No moment has this id.');
  return found;
}

export const momentDeleted = () => new AppError(410, 'MOMENT_DELETED', 'This moment was deleted: its recording and every asset are gone.');

@Injectable()
export class MomentsService {
  private readonly logger = new Logger(MomentsService.name);
  private readonly readViews = new ReadViewCache();

  constructor(
    private readonly moments: MomentsRepository,
    private readonly lifecycle: MomentLifecycle,
    private readonly storage: StorageRepository,
    private readonly uploads: UploadService,
    private readonly view: MomentViewService,
    @Inject(APP_CONFIG) private readonly config: Pick<ApiConfig, 'API_KEYS' | 'MAX_MOMENTS_IN_FLIGHT_PER_KEY' | 'MAX_RENDER_SECONDS' | 'WEBHOOK_SECRET'>,
    private readonly outbound: OutboundGuard,
    private readonly waiter: MomentWaitService,
  ) {}

  /** How many moments a client key may have in flight; null for anonymous clients, who are not capped per key. */
  private inFlightLimit(owner: string | null): number | null {
    return owner !== null && this.config.API_KEYS?.length ? this.config.MAX_MOMENTS_IN_FLIGHT_PER_KEY : null;
  }

  /**
   * Refuses a create before its body is read when the key already has its limit of moments in
   * flight. A replay of an existing moment (same Idempotency-Key) is not a new one and passes.
   */
  async checkInFlight(owner: string | null, idempotencyKey: string | null): Promise<void> {
    const limit = this.inFlightLimit(owner);
    if (limit === null || owner === null) return;
    if (idempotencyKey && (await this.moments.findByIdempotencyKey(idempotencyKey, owner))) return;
    if ((await this.moments.countInFlight(owner)) >= limit) throw tooManyInFlight(limit, true);
  }

  /**
   * Loads a moment; a malformed id is just another unknown id. With an `owner` (a client's key,
   * or null for anonymous clients) another client's moment is unknown too; admin passes none.
   */
  async findOrFail(id: string, owner?: string | null): Promise<MomentEntity> {
    return visibleTo(MOMENT_ID.test(id) ? await this.moments.findById(id.toLowerCase()) : null, owner);
  }

  /** A client's moment: unknown (or another key's) answers 404, a deleted one 410. */
  async findForClient(id: string, owner: string | null): Promise<MomentEntity> {
    const moment = await this.findOrFail(id, owner);
    if (moment.deletedAt) throw momentDeleted();
    return moment;
  }

  /**
   * A client's read (a status poll, mostly): one query for the view's columns. When this process has built
   * the view before, a smaller query asks for the row's version first; at the same version, with its URLs
   * still current, the same view object is answered again.
   */
  async get(id: string, owner: string | null): Promise<MomentDto> {
    const key = MOMENT_ID.test(id) ? id.toLowerCase() : null;
    const known = key ? this.readViews.get(key) : undefined;
    let reading = visibleTo(key ? await this.moments.findReading(key, known?.version) : null, owner);
    if (reading.deletedAt) throw momentDeleted();
    if (!reading.moment) {
      if (known && (await this.view.urlsCurrent(known.view, known.assets))) return known.view;
      // A URL was renewed since: the columns are read again to build the view anew.
      reading = visibleTo(await this.moments.findReading(key!), owner);
      if (reading.deletedAt) throw momentDeleted();
    }
    const moment = reading.moment!;
    const view = await this.view.toDto(moment);
    this.readViews.set(key!, { version: reading.version, assets: moment.assets, view });
    return view;
  }

  /**
   * Deletes a moment for its client (`owner`) or an operator (no owner check): cancels it when
   * in progress, leaves a tombstone row, then removes its objects. Objects storage could not
   * remove now go at the next retention pass, which removes everything of a deleted moment.
   */
  async delete(id: string, by: { owner: string | null } | 'operator'): Promise<void> {
    const moment = await this.findOrFail(id, by === 'operator' ? undefined : by.owner);
    const requester: DeletedBy = by === 'operator' ? 'operator' : 'client';
    const outcome = await this.lifecycle.delete(moment.id, requester);
    if (!outcome) throw new AppError(404, 'MOMENT_NOT_FOUND', 'No moment has this id.');
    if (!outcome.deleted) throw momentDeleted();
    await this.storage.deletePrefix(storageKey(moment.id, '')).catch((error: Error) => {
      this.logger.warn(`moment ${moment.id} deleted; its objects wait for the retention pass (${error.message})`);
    });
  }

  async cancel(id: string, owner: string | null): Promise<MomentDto> {
    const moment = await this.findForClient(id, owner);
    const notCancelable = () => new AppError(409, 'MOMENT_NOT_CANCELABLE', `The moment is ${moment.status.toLowerCase()}; only a moment in progress can be canceled.`);
    if (TERMINAL_STATUSES.includes(moment.status)) throw notCancelable();
    const outcome = await this.lifecycle.apply(moment.id, { type: 'CANCEL', reason: 'canceled by the client' });
    if (!outcome) throw new AppError(404, 'MOMENT_NOT_FOUND', 'No moment has this id.');
    if (!outcome.applied) throw notCancelable();
    return this.view.toDto(outcome.moment);
  }

  /**
   * Creates (or replays) a moment. With `waitSeconds` (`Prefer: wait`) the answer is held until the
   * moment ends or the time is up: the finished moment, or the accepted one as without it.
   */
  async createMoment(command: CreateMomentCommand, waitSeconds: number | null = null): Promise<CreateMomentAnswer> {
    const { moment } = await this.create(command);
    const latest = waitSeconds ? await this.waiter.untilFinished(moment.id, waitSeconds, command.signal) : moment;
    const current = latest ?? moment;
    const statusUrl = this.view.url(`/v1/moments/${moment.id}`);
    if (TERMINAL_STATUSES.includes(current.status) && !current.deletedAt) return { finished: { ...(await this.view.toDto(current)), status_url: statusUrl } };
    return { accepted: { job_id: moment.id, id: moment.id, status: current.status, status_url: statusUrl } };
  }

  async createMomentCompat(command: CreateMomentCommand): Promise<CompatCreateMomentResponseDto> {
    const { moment } = await this.create(command);
    return { job_id: moment.id, status: moment.status, status_url: this.view.url(`/v1/status/${moment.id}`) };
  }

  /**
   * Creates a moment from a received upload: blueprint, file, replay, audio, then storage and the row.
   * Every check runs before anything is stored; a retried request with the same Idempotency-Key
   * (and the same owner) returns the moment the first one made.
   */
  async create(command: CreateMomentCommand): Promise<CreatedMoment> {
    const { form, upload, owner, idempotencyKey, signal } = command;
    const blueprint = this.parseBlueprint(form.blueprint_json);
    const recording = requireRecording(upload);
    const webhookFields = form.webhook_url ? { webhook_url: form.webhook_url, webhook_events: form.webhook_events ?? null } : {};
    const requestHash = createHash('sha256')
      .update(canonical({ file: recording.sha256, output_kind: form.output_kind ?? OutputKind.Preview, style: form.style, title: form.title, lyrics: form.lyrics, blueprint, ...webhookFields }))
      .digest('hex');
    if (idempotencyKey) {
      const existing = await this.moments.findByIdempotencyKey(idempotencyKey, owner);
      if (existing) return { moment: this.replay(existing, requestHash), replayed: true };
    }
    const webhook = await this.checkWebhook(form.webhook_url, form.webhook_events);
    const type = await this.uploads.check(recording.path, signal);
    return this.store({ command, blueprint, webhook, recording, type, requestHash });
  }

  /**
   * A webhook target the deployment can sign for and may reach: https (http too when
   * OUTBOUND_ALLOW_PRIVATE allows local receivers), no credentials in the URL, a host that resolves
   * to public addresses only. The worker checks the address again when it connects.
   */
  private async checkWebhook(url: string | undefined, events: WebhookEvent[] | undefined): Promise<WebhookTarget | null> {
    if (!url) {
      if (events?.length) throw new AppError(422, 'WEBHOOK_URL_REQUIRED', 'webhook_events was given without a webhook_url to deliver them to.');
      return null;
    }
    if (!this.config.WEBHOOK_SECRET?.length) {
      throw new AppError(422, 'WEBHOOKS_NOT_CONFIGURED', 'This deployment has no WEBHOOK_SECRET to sign deliveries with, so it takes no webhook_url.');
    }
    const invalid = (why: string) => new AppError(422, 'WEBHOOK_URL_INVALID', `webhook_url ${why}.`);
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw invalid('is not an absolute URL');
    }
    const schemes = this.outbound.allowPrivate ? ['https:', 'http:'] : ['https:'];
    if (!schemes.includes(target.protocol)) throw invalid(this.outbound.allowPrivate ? 'must be http or https' : 'must be https');
    if (target.username || target.password) throw invalid('must not carry credentials; put a token in the path or query instead');
    try {
      await this.outbound.checkDestination(target);
    } catch (error) {
      if (error instanceof OutboundRefusedError)
        throw new AppError(422, 'WEBHOOK_URL_REFUSED', 'webhook_url must reach a public internet address: loopback, private, link-local and metadata addresses are refused.');
      throw invalid('names a host that does not resolve');
    }
    return { url: target.toString(), events: events ? [...new Set(events)] : null };
  }

  private parseBlueprint(json: string | undefined): Blueprint | null {
    if (json === undefined || json.trim() === '') return null;
    if (nestsDeeperThan(json, MAX_BLUEPRINT_DEPTH)) {
      throw new AppError(422, 'BLUEPRINT_INVALID', `blueprint_json nests deeper than ${MAX_BLUEPRINT_DEPTH} levels.`, {
        errors: [{ path: '/', message: `nests deeper than ${MAX_BLUEPRINT_DEPTH} levels` }],
      });
    }
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch (error) {
      throw new AppError(422, 'BLUEPRINT_INVALID', 'blueprint_json is not valid JSON.', {
        errors: [{ path: '/', message: `is not valid JSON (${(error as Error).message})` }],
      });
    }
    const result = validateBlueprint(value);
    if (!result.ok) {
      throw new AppError(422, 'BLUEPRINT_INVALID', `The blueprint is invalid: ${result.errors.map((e) => `${e.path} ${e.message}`).join('; ')}.`.slice(0, 1000), {
        errors: result.errors,
      });
    }
    // Valid, as every original blueprint stays; only rendering it is refused.
    const tooLong = renderTooLong(result.blueprint, this.config.MAX_RENDER_SECONDS);
    if (tooLong) throw new AppError(422, tooLong.code, tooLong.message);
    return result.blueprint;
  }

  private replay(existing: MomentEntity, requestHash: string): MomentEntity {
    if (existing.requestHash !== requestHash) {
      throw new AppError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used for a different request.');
    }
    return existing;
  }

  private async store({ command, blueprint, webhook, recording, type, requestHash }: CheckedCreate): Promise<CreatedMoment> {
    const { form, owner, idempotencyKey } = command;
    const momentId = randomUUID();
    const originalKey = storageKey(momentId, `original.${type.ext}`);
    await this.storage.putFile(originalKey, recording.path, type.mime);
    try {
      // Counted again under a lock on the owner, so concurrent creates cannot all take the last slot.
      const maxInFlight = this.inFlightLimit(owner);
      const moment = await this.lifecycle.create(
        {
          momentId,
          outputKind: form.output_kind ?? OutputKind.Preview,
          originalKey,
          blueprint,
          style: form.style ?? null,
          title: form.title ?? null,
          lyrics: form.lyrics ?? null,
          originalFilename: recording.filename,
          owner,
          idempotencyKey,
          requestHash,
          webhookUrl: webhook?.url ?? null,
          webhookEvents: webhook?.events ?? null,
        },
        { maxInFlight },
      );
      return { moment, replayed: false };
    } catch (error) {
      await this.storage.deletePrefix(storageKey(momentId, '')).catch((cleanup: Error) => {
        this.logger.warn(`moment ${momentId}: could not remove the upload after a failed create (${cleanup.message})`);
      });
      // A concurrent request with the same key won the race: answer with its moment.
      if (error instanceof IdempotencyConflict) return { moment: this.replay(error.existing, requestHash), replayed: true };
      if (error instanceof InFlightLimitReached) throw tooManyInFlight(error.limit, false);
      throw error;
    }
  }
}
