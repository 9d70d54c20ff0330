import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsEnum, IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { MomentStatus, OutputKind } from '@mcm/pipeline';
import { WEBHOOK_EVENTS, type WebhookEvent } from '@mcm/core';
import { MOMENT_ID_EXAMPLE, MomentDto } from './moment.dto';

/** Multipart text fields arrive as strings; blank means "not given". */
const blankToUndefined = () =>
  Transform(({ value }: { value: unknown }) => {
    if (typeof value !== 'string') return value;
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  });

const BLUEPRINT_EXAMPLE = JSON.stringify({
  id: 'bp-1',
  style: 'cinematic',
  tempo_bpm: 96,
  key: 'Am',
  sections: [
    { name: 'intro', bars: 2 },
    { name: 'hook', bars: 4, energy: 0.9 },
  ],
  lyrics: 'Here I come, the main character',
  voice: { voice_id: 'local-warm' },
});

/** `webhook_events` arrives as one comma-separated field: a multipart form field may come only once. */
const commaSeparated = () =>
  Transform(({ value }: { value: unknown }) => {
    if (typeof value !== 'string') return value;
    const events = value
      .split(',')
      .map((event) => event.trim())
      .filter(Boolean);
    return events.length ? events : undefined;
  });

const EVENT_LIST = `(${WEBHOOK_EVENTS.join('|')})`;

/**
 * The multipart form of a create request. The text fields are validated with these decorators;
 * `file` is streamed to disk and checked by content, never kept in memory.
 */
export class CreateMomentFormDto {
  @ApiProperty({
    type: 'string',
    format: 'binary',
    description: 'The recording: wav, mp3, m4a/aac, ogg/opus, webm or flac, checked by content. At most `MAX_UPLOAD_MB` and `MAX_AUDIO_SECONDS`.',
  })
  file?: unknown;

  @ApiPropertyOptional({
    type: 'string',
    description: 'A blueprint as a JSON string (see the `Blueprint` schema). When given it is validated and used instead of the composed one.',
    example: BLUEPRINT_EXAMPLE,
  })
  @IsOptional()
  @IsString()
  blueprint_json?: string;

  @ApiPropertyOptional({ enum: OutputKind, enumName: 'OutputKind', default: OutputKind.Preview, description: 'What to render.' })
  @blankToUndefined()
  @IsOptional()
  @IsEnum(OutputKind)
  output_kind?: OutputKind;

  @ApiPropertyOptional({ maxLength: 120, description: 'Musical style, e.g. cinematic, anthem, lofi, synthwave.', example: 'anthem' })
  @blankToUndefined()
  @IsOptional()
  @IsString()
  @MaxLength(120)
  style?: string;

  @ApiPropertyOptional({ maxLength: 200, description: 'A title for the song.', example: 'Monday Morning Hero' })
  @blankToUndefined()
  @IsOptional()
  @IsString()
  @MaxLength(200)
  title?: string;

  @ApiPropertyOptional({ maxLength: 5000, description: 'Lyrics to sing instead of generated ones.', example: 'Here I come, the main character' })
  @blankToUndefined()
  @IsOptional()
  @IsString()
  @MaxLength(5000)
  lyrics?: string;

  @ApiPropertyOptional({
    type: 'string',
    format: 'uri',
    maxLength: 2000,
    description:
      "Where to POST the moment's events (Standard Webhooks: signed `webhook-id`, `webhook-timestamp` and `webhook-signature` headers; see the `webhooks` of this document). " +
      'https, on a public address (checked now and at each delivery); refused with 422 when the deployment has no WEBHOOK_SECRET.',
    example: 'https://example.com/hooks/moments',
  })
  @blankToUndefined()
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  webhook_url?: string;

  @ApiPropertyOptional({
    type: 'string',
    pattern: `^${EVENT_LIST}(,${EVENT_LIST})*$`,
    description: `Comma-separated events to deliver to \`webhook_url\`: ${WEBHOOK_EVENTS.join(', ')}. Default: completed,failed,canceled.`,
    example: 'progress,completed,failed,canceled',
  })
  @commaSeparated()
  @IsOptional()
  @ArrayMaxSize(WEBHOOK_EVENTS.length)
  @IsIn(WEBHOOK_EVENTS, { each: true, message: `each of webhook_events must be one of ${WEBHOOK_EVENTS.join(', ')}` })
  webhook_events?: WebhookEvent[];
}

export class CreateMomentResponseDto {
  @ApiProperty({ format: 'uuid', description: 'Same as `id`; kept for clients of the original API.', example: MOMENT_ID_EXAMPLE })
  job_id: string;

  @ApiProperty({ format: 'uuid', example: MOMENT_ID_EXAMPLE })
  id: string;

  @ApiProperty({ enum: MomentStatus, enumName: 'MomentStatus', example: MomentStatus.Pending })
  status: MomentStatus;

  @ApiProperty({ description: 'Where to poll the moment.', example: `/v1/moments/${MOMENT_ID_EXAMPLE}` })
  status_url: string;
}

/** The 201 answer of a create under `Prefer: wait`: the finished moment, and everything the 202 answer has, so a client reads either alike. */
export class FinishedMomentDto extends MomentDto {
  @ApiProperty({ description: 'Where to read the moment again.', example: `/v1/moments/${MOMENT_ID_EXAMPLE}` })
  status_url: string;
}

export class CompatCreateMomentResponseDto {
  @ApiProperty({ format: 'uuid', example: MOMENT_ID_EXAMPLE })
  job_id: string;

  @ApiProperty({ enum: MomentStatus, enumName: 'MomentStatus', example: MomentStatus.Pending })
  status: MomentStatus;

  @ApiProperty({ description: 'Where to poll the job.', example: `/v1/status/${MOMENT_ID_EXAMPLE}` })
  status_url: string;
}
