import { Body, Controller, Get, HttpCode, Headers, Param, Post, UseGuards, UseInterceptors } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { CompatCreateMomentResponseDto, CreateMomentFormDto } from '../dtos/create-moment.dto';
import { MOMENT_ID_EXAMPLE, MomentDto } from '../dtos/moment.dto';
import { ApiKeyGuard, ClientOwner } from '../guards/api-key.guard';
import { CreateRateLimitGuard } from '../guards/create-rate-limit.guard';
import { InFlightLimitGuard } from '../guards/in-flight-limit.guard';
import { EntityTagInterceptor } from '../http/entity-tag';
import { IDEMPOTENCY_KEY_HEADER, IdempotencyKeyGuard } from '../http/idempotency-key';
import { UploadInterceptor, UploadedRecording } from '../http/upload.interceptor';
import { ApiProblem } from '../problem/api-problem.decorator';
import type { ReceivedUpload } from '../services/create-moment.command';
import { MomentsService } from '../services/moments.service';
import { ClientGone } from './client-gone.decorator';
import { ApiClientKey, ApiConditionalRead, ApiCreateRateLimit, ApiIdempotencyKey, ApiMomentDeleted, ApiUploadProblems, ENTITY_TAG_HEADERS } from './api-docs.decorators';

/** The original service's routes, kept so its clients keep working. */
@ApiTags('Compatibility')
@ApiClientKey()
@UseGuards(ApiKeyGuard)
@Controller('v1')
export class CompatController {
  constructor(private readonly service: MomentsService) {}

  @Post('create-moment')
  @HttpCode(200)
  @UseGuards(CreateRateLimitGuard, IdempotencyKeyGuard, InFlightLimitGuard)
  @UseInterceptors(UploadInterceptor)
  @ApiOperation({
    operationId: 'createMomentCompat',
    summary: 'Upload a recording (original API)',
    description: 'The original create endpoint: same input and checks as `createMoment`, answers 200 with the job id. Prefer `POST /v1/moments`.',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ type: CreateMomentFormDto })
  @ApiIdempotencyKey()
  @ApiOkResponse({ type: CompatCreateMomentResponseDto })
  @ApiUploadProblems()
  @ApiCreateRateLimit()
  create(
    @ClientOwner() owner: string | null,
    @Headers(IDEMPOTENCY_KEY_HEADER) idempotencyKey: string | undefined,
    @Body() form: CreateMomentFormDto,
    @UploadedRecording() upload: ReceivedUpload,
    @ClientGone() signal: AbortSignal,
  ): Promise<CompatCreateMomentResponseDto> {
    return this.service.createMomentCompat({ owner, idempotencyKey: idempotencyKey ?? null, form, upload, signal });
  }

  @Get('status/:job_id')
  @UseInterceptors(EntityTagInterceptor)
  @ApiOperation({ operationId: 'getStatusCompat', summary: 'Get a job (original API)', description: 'The moment object, as `GET /v1/moments/{id}`.' })
  @ApiParam({ name: 'job_id', format: 'uuid', example: MOMENT_ID_EXAMPLE })
  @ApiConditionalRead()
  @ApiOkResponse({ type: MomentDto, headers: ENTITY_TAG_HEADERS })
  @ApiProblem(404, ['MOMENT_NOT_FOUND'], 'No job has this id, or it belongs to another API key.')
  @ApiMomentDeleted()
  status(@Param('job_id') jobId: string, @ClientOwner() owner: string | null): Promise<MomentDto> {
    return this.service.get(jobId, owner);
  }
}
