import { Controller, Get, Headers, Param, Res, UseGuards } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { MomentDto } from '../dtos/moment.dto';
import { ApiKeyGuard, ClientOwner } from '../guards/api-key.guard';
import { ApiProblem } from '../problem/api-problem.decorator';
import { MOMENT_EVENT_NAMES, MomentEventsService } from '../services/moment-events.service';
import { ApiClientKey, ApiMomentDeleted, ApiMomentId } from './api-docs.decorators';
import { serveEventStream } from './event-stream';

@ApiTags('Moments')
@ApiClientKey()
@UseGuards(ApiKeyGuard)
@Controller('v1/moments')
export class MomentEventsController {
  constructor(private readonly service: MomentEventsService) {}

  @Get(':id/events')
  @ApiOperation({
    operationId: 'streamMomentEvents',
    summary: 'Follow a moment live (server-sent events)',
    description:
      `A \`text/event-stream\` with one event per change of status, stage or progress, named ${MOMENT_EVENT_NAMES.map((name) => `\`${name}\``).join(', ')}. ` +
      "Each event's `data` is the moment object (status, stage and progress as of that change) and its `id` the sequence number of the change. " +
      "Without `Last-Event-ID` the stream starts from the moment's creation; with it, right after that event, with no gap and no repeat. " +
      'A `: heartbeat` comment comes every 15 s; the stream ends after `moment.completed`, `moment.failed` or `moment.canceled`.',
  })
  @ApiMomentId()
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'The `id` of the last event received: the stream resumes after it.', schema: { type: 'string', pattern: '^[0-9]+$' } })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({
    description: 'Events until the moment ends. Each is `id: <sequence>`, `event: <name>`, `data: <moment JSON>`.',
    content: { 'text/event-stream': { schema: { type: 'string', description: `Server-sent events; each \`data\` line is a ${MomentDto.name} object.` } } },
  })
  @ApiProblem(404, ['MOMENT_NOT_FOUND'], 'No moment has this id (malformed ids included), or it belongs to another API key.')
  @ApiMomentDeleted()
  async streamMomentEvents(@Param('id') id: string, @ClientOwner() owner: string | null, @Headers('last-event-id') lastEventId: string | undefined, @Res() response: Response): Promise<void> {
    serveEventStream(response, await this.service.open({ id, owner, lastEventId }));
  }
}
