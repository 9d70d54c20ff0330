import { Body, Controller, Delete, Get, HttpCode, Headers, Param, Post, Res, UseGuards, UseInterceptors } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBody, ApiConsumes, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { CreateMomentFormDto, CreateMomentResponseDto, FinishedMomentDto } from '../dtos/create-moment.dto';
import { MomentDto } from '../dtos/moment.dto';
import { ApiKeyGuard, ClientOwner } from '../guards/api-key.guard';
import { CreateRateLimitGuard } from '../guards/create-rate-limit.guard';
import { InFlightLimitGuard } from '../guards/in-flight-limit.guard';
import { EntityTagInterceptor } from '../http/entity-tag';
import { IDEMPOTENCY_KEY_HEADER, IdempotencyKeyGuard } from '../http/idempotency-key';
import { parsePreferWait } from '../http/prefer-wait';
import { UploadInterceptor, UploadedRecording } from '../http/upload.interceptor';
import { ApiProblem } from '../problem/api-problem.decorator';
import type { ReceivedUpload } from '../services/create-moment.command';
import { MomentsService } from '../services/moments.service';
import { ClientGone } from './client-gone.decorator';
import { ApiClientKey, ApiConditionalRead, ApiCreateRateLimit, ApiIdempotencyKey, ApiMomentDeleted, ApiMomentId, ApiPreferWait, ApiUploadProblems, ENTITY_TAG_HEADERS } from './api-docs.decorators';

@ApiTags('Moments')
@ApiClientKey()
@UseGuards(ApiKeyGuard)
@Controller('v1/moments')
export class MomentsController {
  constructor(private readonly service: MomentsService) {}

  @Post()
  @HttpCode(202)
  @UseGuards(CreateRateLimitGuard, IdempotencyKeyGuard, InFlightLimitGuard)
  @UseInterceptors(UploadInterceptor)
  @ApiOperation({
    operationId: 'createMoment',
    summary: 'Upload a recording and start a moment',
    description:
      'Streams the recording to storage after checking it is real audio (by content) within the size and length limits, then starts the pipeline: analyze, compose, validate, render vocals and instrumental, mix. Nothing is stored when a check fails. Poll `status_url` for progress, follow the events, or name a `webhook_url`. ' +
      'A replay with the same Idempotency-Key answers with the first moment. With `Prefer: wait=N` the answer waits up to N seconds (at most 60) for the moment to end: 201 with the finished moment, or 202 as without it.',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ type: CreateMomentFormDto, description: 'The recording and optional settings.' })
  @ApiIdempotencyKey()
  @ApiPreferWait()
  @ApiCreatedResponse({ type: FinishedMomentDto, description: 'With `Prefer: wait`: the moment ended (COMPLETED, FAILED or CANCELED) within the wait.' })
  @ApiAcceptedResponse({ type: CreateMomentResponseDto, description: 'The moment was created (or replayed) and is in progress.' })
  @ApiUploadProblems()
  @ApiCreateRateLimit()
  async create(
    @ClientOwner() owner: string | null,
    @Headers(IDEMPOTENCY_KEY_HEADER) idempotencyKey: string | undefined,
    @Headers('prefer') prefer: string | undefined,
    @Body() form: CreateMomentFormDto,
    @UploadedRecording() upload: ReceivedUpload,
    @ClientGone() signal: AbortSignal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<FinishedMomentDto | CreateMomentResponseDto> {
    const wait = parsePreferWait(prefer);
    response.vary('Prefer');
    const answer = await this.service.createMoment({ owner, idempotencyKey: idempotencyKey ?? null, form, upload, signal }, wait);
    if (wait !== null) response.setHeader('Preference-Applied', `wait=${wait}`);
    if (!answer.finished) return answer.accepted;
    response.status(201);
    return answer.finished;
  }

  @Get(':id')
  @UseInterceptors(EntityTagInterceptor)
  @ApiOperation({
    operationId: 'getMoment',
    summary: 'Get a moment',
    description:
      'Status, current stage, progress, analysis, error and presigned URLs of every stored object; each URL is valid for at least half of PRESIGN_TTL_SECONDS. ' +
      'Poll with `If-None-Match` set to the last `ETag`: the answer is 304 with no body until the moment changes.',
  })
  @ApiMomentId()
  @ApiConditionalRead()
  @ApiOkResponse({ type: MomentDto, headers: ENTITY_TAG_HEADERS })
  @ApiProblem(404, ['MOMENT_NOT_FOUND'], 'No moment has this id (malformed ids included), or it belongs to another API key.')
  @ApiMomentDeleted()
  get(@Param('id') id: string, @ClientOwner() owner: string | null): Promise<MomentDto> {
    return this.service.get(id, owner);
  }

  @Post(':id/cancel')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'cancelMoment',
    summary: 'Cancel a moment in progress',
    description: 'Stops the moment: queued stages are removed, a running stage finishes and its result is ignored. An operator can resume it later.',
  })
  @ApiMomentId()
  @ApiAcceptedResponse({ type: MomentDto, description: 'The moment, now CANCELED.' })
  @ApiProblem(404, ['MOMENT_NOT_FOUND'], 'No moment has this id.')
  @ApiProblem(409, ['MOMENT_NOT_CANCELABLE'], 'The moment already finished (COMPLETED, FAILED or CANCELED).')
  @ApiMomentDeleted()
  cancel(@Param('id') id: string, @ClientOwner() owner: string | null): Promise<MomentDto> {
    return this.service.cancel(id, owner);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'deleteMoment',
    summary: 'Delete a moment',
    description:
      'Removes the recording and every asset of the moment from storage; a moment in progress is canceled first and no further stage runs for it. ' +
      'The id stays as a tombstone: afterwards every route of the moment, this one included, answers 410 MOMENT_DELETED.',
  })
  @ApiMomentId()
  @ApiNoContentResponse({ description: 'The moment and its objects are deleted.' })
  @ApiProblem(404, ['MOMENT_NOT_FOUND'], 'No moment has this id, or it belongs to another API key.')
  @ApiMomentDeleted()
  delete(@Param('id') id: string, @ClientOwner() owner: string | null): Promise<void> {
    return this.service.delete(id, { owner });
  }
}
