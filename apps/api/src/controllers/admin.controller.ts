import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, UseGuards, UseInterceptors } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminJobDto, JobListDto, ListJobsQueryDto, RetryFailedJobsDto, RetryFailedResultDto } from '../dtos/admin.dto';
import { MomentDto } from '../dtos/moment.dto';
import { AdminGuard } from '../guards/admin.guard';
import { EntityTagInterceptor } from '../http/entity-tag';
import { ApiProblem } from '../problem/api-problem.decorator';
import { AdminService } from '../services/admin.service';
import { ApiConditionalRead, ApiMomentDeleted, ApiMomentId, ENTITY_TAG_HEADERS } from './api-docs.decorators';

export const ADMIN_SECURITY = 'admin';

@ApiTags('Admin')
@ApiBearerAuth(ADMIN_SECURITY)
@ApiProblem(401, ['UNAUTHORIZED'], 'The bearer token is missing or wrong.')
@ApiProblem(404, ['ADMIN_DISABLED', 'MOMENT_NOT_FOUND'], 'No ADMIN_TOKEN is configured, or no job has this id.')
@UseGuards(AdminGuard)
@Controller('v1/admin/jobs')
export class AdminController {
  constructor(private readonly service: AdminService) {}

  @Get()
  @UseInterceptors(EntityTagInterceptor)
  @ApiOperation({ operationId: 'listJobs', summary: 'List jobs', description: 'Newest first, optionally filtered by status; page with `next_cursor`.' })
  @ApiConditionalRead()
  @ApiOkResponse({ type: JobListDto, headers: ENTITY_TAG_HEADERS })
  @ApiProblem(400, ['VALIDATION_FAILED', 'INVALID_CURSOR'], 'A query parameter is invalid.')
  list(@Query() query: ListJobsQueryDto): Promise<JobListDto> {
    return this.service.list(query);
  }

  @Post('retry-failed')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'retryFailedJobs',
    summary: 'Retry finished jobs in bulk',
    description: 'Resumes FAILED (or CANCELED) jobs matching the filters, newest first, each from the stage that stopped.',
  })
  @ApiAcceptedResponse({ type: RetryFailedResultDto, description: 'These jobs were resumed.' })
  @ApiProblem(400, ['VALIDATION_FAILED', 'INVALID_JSON'], 'The filter is invalid.')
  retryFailed(@Body() filter: RetryFailedJobsDto): Promise<RetryFailedResultDto> {
    return this.service.retryFailed(filter);
  }

  @Get(':id')
  @ApiOperation({ operationId: 'getJob', summary: 'Inspect a job', description: 'The moment plus its machine state and every transition it went through.' })
  @ApiMomentId()
  @ApiOkResponse({ type: AdminJobDto })
  getJob(@Param('id') id: string): Promise<AdminJobDto> {
    return this.service.get(id);
  }

  @Post(':id/retry')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'retryJob',
    summary: 'Retry a job',
    description: 'Resumes a FAILED or CANCELED job from the stage that stopped; finished stages are not redone.',
  })
  @ApiMomentId()
  @ApiAcceptedResponse({ type: MomentDto, description: 'The job, active again.' })
  @ApiProblem(409, ['MOMENT_NOT_RETRYABLE', 'MOMENT_EXPIRED'], 'The job is not FAILED or CANCELED, or its recording expired (RETENTION_DAYS).')
  @ApiMomentDeleted()
  retry(@Param('id') id: string): Promise<MomentDto> {
    return this.service.retry(id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'deleteJob',
    summary: 'Delete a job',
    description: 'Deletes any client’s moment, as `DELETE /v1/moments/{id}` does for its own client: objects removed, the row kept as a tombstone (listed with `deleted_at`).',
  })
  @ApiMomentId()
  @ApiNoContentResponse({ description: 'The moment and its objects are deleted.' })
  @ApiMomentDeleted()
  deleteJob(@Param('id') id: string): Promise<void> {
    return this.service.delete(id);
  }
}
