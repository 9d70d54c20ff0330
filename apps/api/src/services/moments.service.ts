import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Injectable, Logger } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { OutputKind, TERMINAL_STATUSES, storageKey, validateBlueprint, type Blueprint } from '@mcm/pipeline';
import { IdempotencyConflict, MomentLifecycle, MomentsRepository, StorageRepository, type MomentEntity } from '@mcm/core';
import { CreateMomentFormDto, type CompatCreateMomentResponseDto, type CreateMomentResponseDto } from '../dtos/create-moment.dto';
import type { MomentDto } from '../dtos/moment.dto';
import { AppError } from '../problem/app-error';
import { validationProblem } from '../problem/validation';
import { MomentViewService } from './moment-view.service';
import { UploadService, type ReceivedUpload } from './upload.service';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface CreatedMoment {
  moment: MomentEntity;
  /** True when an earlier request with the same Idempotency-Key made it. */
  replayed: boolean;
}

interface CreateInput {
  form: CreateMomentFormDto;
  blueprint: Blueprint | null;
  upload: ReceivedUpload & { path: string };
  idempotencyKey: string | null;
  requestHash: string;
  owner: string | null;
  /** Aborted when the client goes away: the audio check stops with it. */
  signal?: AbortSignal;
}

/** A blueprint nests a few levels; anything deeper is refused before JSON.parse recurses into it. */
export const MAX_BLUEPRINT_DEPTH = 32;

/** True when the JSON text opens more than `max` arrays/objects at once (strings are skipped). */
export function nestsDeeperThan(json: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i += 1) {
    const char = json.charCodeAt(i);
    if (inString) {
      if (char === 0x5c) i += 1; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) inString = true;
    else if (char === 0x5b || char === 0x7b) {
      depth += 1;
      if (depth > max) return true;
    } else if (char === 0x5d || char === 0x7d) depth -= 1;
  }
  return false;
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

@Injectable()
export class MomentsService {
  private readonly logger = new Logger(MomentsService.name);

  constructor(
    private readonly moments: MomentsRepository,
    private readonly lifecycle: MomentLifecycle,
    private readonly storage: StorageRepository,
    private readonly uploads: UploadService,
    private readonly view: MomentViewService,
  ) {}

  /**
   * Loads a moment; a malformed id is just another unknown id. With an `owner` (a client's key,
   * or null for anonymous clients) another client's moment is unknown too; admin passes none.
   */
  async findOrFail(id: string, owner?: string | null): Promise<MomentEntity> {
    const found = UUID.test(id) ? await this.moments.findById(id.toLowerCase()) : null;
    const moment = found && (owner === undefined || (found.owner ?? null) === owner) ? found : null;
    if (!moment) throw new AppError(404, 'MOMENT_NOT_FOUND', 'No moment has this id.');
    return moment;
  }

  async get(id: string, owner: string | null): Promise<MomentDto> {
    return this.view.toDto(await this.findOrFail(id, owner));
  }

  async cancel(id: string, owner: string | null): Promise<MomentDto> {
    const moment = await this.findOrFail(id, owner);
    const notCancelable = () => new AppError(409, 'MOMENT_NOT_CANCELABLE', `The moment is ${moment.status.toLowerCase()}; only a moment in progress can be canceled.`);
    if (TERMINAL_STATUSES.includes(moment.status)) throw notCancelable();
    const outcome = await this.lifecycle.apply(moment.id, { type: 'CANCEL', reason: 'canceled by the client' });
    if (!outcome) throw new AppError(404, 'MOMENT_NOT_FOUND', 'No moment has this id.');
    if (!outcome.applied) throw notCancelable();
    return this.view.toDto(outcome.moment);
  }

  async createMoment(request: IncomingMessage, owner: string | null, signal?: AbortSignal): Promise<CreateMomentResponseDto> {
    const { moment } = await this.create(request, owner, signal);
    return { job_id: moment.id, id: moment.id, status: moment.status, status_url: this.view.url(`/v1/moments/${moment.id}`) };
  }

  async createMomentCompat(request: IncomingMessage, owner: string | null, signal?: AbortSignal): Promise<CompatCreateMomentResponseDto> {
    const { moment } = await this.create(request, owner, signal);
    return { job_id: moment.id, status: moment.status, status_url: this.view.url(`/v1/status/${moment.id}`) };
  }

  /**
   * Creates a moment from an upload. Every check runs before anything is stored; a retried
   * request with the same Idempotency-Key (and the same owner) returns the moment the first one made.
   */
  async create(request: IncomingMessage, owner: string | null, signal?: AbortSignal): Promise<CreatedMoment> {
    const header = request.headers['idempotency-key'];
    const idempotencyKey = Array.isArray(header) ? header.join(',') : (header ?? null);
    if (idempotencyKey !== null && (idempotencyKey.length === 0 || idempotencyKey.length > 255 || !/^[\x21-\x7e]+$/.test(idempotencyKey))) {
      throw new AppError(400, 'INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1 to 255 visible ASCII characters.');
    }
    const upload = await this.uploads.receive(request);
    try {
      const form = await this.validateForm(upload.fields);
      const blueprint = this.parseBlueprint(form.blueprint_json);
      if (!upload.path) throw new AppError(400, 'FILE_REQUIRED', 'Attach the recording as the `file` part.');
      if (upload.size === 0) throw new AppError(400, 'FILE_EMPTY', 'The uploaded file is empty.');
      const requestHash = createHash('sha256')
        .update(canonical({ file: upload.sha256, output_kind: form.output_kind ?? OutputKind.Preview, style: form.style, title: form.title, lyrics: form.lyrics, blueprint }))
        .digest('hex');

      if (idempotencyKey) {
        const existing = await this.moments.findByIdempotencyKey(idempotencyKey, owner);
        if (existing) return { moment: this.replay(existing, requestHash), replayed: true };
      }
      return await this.store({ form, blueprint, upload: upload as CreateInput['upload'], idempotencyKey, requestHash, owner, signal });
    } finally {
      await upload.cleanup();
    }
  }

  private async validateForm(fields: Record<string, string>): Promise<CreateMomentFormDto> {
    const form = plainToInstance(CreateMomentFormDto, fields);
    const errors = await validate(form, { whitelist: true, forbidNonWhitelisted: true });
    if (errors.length) throw validationProblem(errors);
    return form;
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
    return result.blueprint;
  }

  private replay(existing: MomentEntity, requestHash: string): MomentEntity {
    if (existing.requestHash !== requestHash) {
      throw new AppError(422, 'IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used for a different request.');
    }
    return existing;
  }

  private async store({ form, blueprint, upload, idempotencyKey, requestHash, owner, signal }: CreateInput): Promise<CreatedMoment> {
    const type = await this.uploads.sniff(upload.path);
    await this.uploads.probe(upload.path, type, signal);

    const momentId = randomUUID();
    const originalKey = storageKey(momentId, `original.${type.ext}`);
    await this.storage.putFile(originalKey, upload.path, type.mime);
    try {
      const moment = await this.lifecycle.create({
        momentId,
        outputKind: form.output_kind ?? OutputKind.Preview,
        originalKey,
        blueprint,
        style: form.style ?? null,
        title: form.title ?? null,
        lyrics: form.lyrics ?? null,
        originalFilename: upload.filename,
        owner,
        idempotencyKey,
        requestHash,
      });
      return { moment, replayed: false };
    } catch (error) {
      await this.storage.deletePrefix(storageKey(momentId, '')).catch((cleanup: Error) => {
        this.logger.warn(`moment ${momentId}: could not remove the upload after a failed create (${cleanup.message})`);
      });
      // A concurrent request with the same key won the race: answer with its moment.
      if (error instanceof IdempotencyConflict) return { moment: this.replay(error.existing, requestHash), replayed: true };
      throw error;
    }
  }
}
