import { ApiProperty } from '@nestjs/swagger';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '@mcm/core';
import { MomentDto } from './moment.dto';

/** The body of every webhook delivery (Standard Webhooks: `type`, `timestamp`, `data`). */
export class MomentWebhookDto {
  @ApiProperty({ enum: Object.values(WEBHOOK_EVENT_TYPES), enumName: 'MomentWebhookType', description: 'What happened.', example: 'moment.completed' })
  type: WebhookEventType;

  @ApiProperty({ format: 'date-time', description: 'When it happened (the change was committed).', example: '2025-11-24T10:00:31.000Z' })
  timestamp: string;

  @ApiProperty({
    type: MomentDto,
    description: 'The moment as `GET /v1/moments/{id}` shows it, at the status, stage and progress of the event; its URLs are presigned when the attempt is made.',
  })
  data: MomentDto;
}
