import { Controller, Get, HttpCode, Param, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { CompatCreateMomentResponseDto, CreateMomentFormDto } from '../dtos/create-moment.dto';
import { MOMENT_ID_EXAMPLE, MomentDto } from '../dtos/moment.dto';
import { ApiKeyGuard, ClientOwner } from '../guards/api-key.guard';
import { CreateRateLimitGuard } from '../guards/create-rate-limit.guard';
import { InFlightLimitGuard } from '../guards/in-flight-limit.guard';
import { ApiProblem } from '../problem/api-problem.decorator';
import { MomentsService } from '../services/moments.service';
import { ClientGone } from './client-gone.decorator';
import { ApiClientKey, ApiCreateRateLimit, ApiIdempotencyKey, ApiMomentDeleted, ApiUploadProblems } from './api-docs.decorators';

/** The original service's routes, kept so its clients keep working. */
@ApiTags('Compatibility')
@ApiClientKey()
@UseGuards(ApiKeyGuard)
@Controller('v1')
export class CompatController {
  constructor(private readonly service: MomentsService) {}

  @Post('create-moment')
  @HttpCode(200)
  @UseGuards(CreateRateLimitGuard, InFlightLimitGuard)
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
  create(@Req() request: Request, @ClientOwner() owner: string | null, @ClientGone() clientGone: AbortSignal): Promise<CompatCreateMomentResponseDto> {
    return this.service.createMomentCompat(request, owner, clientGone);
  }

  @Get('status/:job_id')
  @ApiOperation({ operationId: 'getStatusCompat', summary: 'Get a job (original API)', description: 'The moment object, as `GET /v1/moments/{id}`.' })
  @ApiParam({ name: 'job_id', format: 'uuid', example: MOMENT_ID_EXAMPLE })
  @ApiOkResponse({ type: MomentDto })
  @ApiProblem(404, ['MOMENT_NOT_FOUND'], 'No job has this id, or it belongs to another API key.')
  @ApiMomentDeleted()
  status(@Param('job_id') jobId: string, @ClientOwner() owner: string | null): Promise<MomentDto> {
    return this.service.get(jobId, owner);
  }
}
