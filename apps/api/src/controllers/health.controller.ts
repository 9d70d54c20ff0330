import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { HealthDto, ReadinessDto } from '../dtos/health.dto';
import { ApiProblem } from '../problem/api-problem.decorator';
import { HealthService } from '../services/health.service';

@ApiTags('Health')
// Probes are open to anyone, and the document says so.
@ApiSecurity({})
@Controller()
export class HealthController {
  constructor(private readonly service: HealthService) {}

  @Get('healthz')
  @ApiOperation({ operationId: 'healthz', summary: 'Liveness', description: 'Answers while the process serves HTTP; checks no dependency.' })
  @ApiOkResponse({ type: HealthDto })
  healthz(): HealthDto {
    return { status: 'ok' };
  }

  @Get('readyz')
  @ApiOperation({
    operationId: 'readyz',
    summary: 'Readiness',
    description: 'Checks Postgres, Redis, storage and music-tools. 503 (a problem with `checks`) when one is down.',
  })
  @ApiOkResponse({ type: ReadinessDto })
  @ApiProblem(503, ['NOT_READY'], 'A dependency is down; the body has `checks` naming which.')
  readyz(): Promise<ReadinessDto> {
    return this.service.readiness();
  }
}
