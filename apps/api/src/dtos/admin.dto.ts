import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, IsDate, IsEnum, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { MomentStatus, STAGES, type Stage } from '@mcm/pipeline';
import { MomentDto } from './moment.dto';

/** Accepts `status=FAILED,CANCELED` as well as `status=FAILED&status=CANCELED`. */
const commaList = () =>
  Transform(({ value }: { value: unknown }) => {
    if (value === undefined) return undefined;
    const parts = (Array.isArray(value) ? value : [value]).flatMap((item) => String(item).split(','));
    return parts.map((item) => item.trim()).filter(Boolean);
  });

export class ListJobsQueryDto {
  @ApiPropertyOptional({
    enum: MomentStatus,
    enumName: 'MomentStatus',
    isArray: true,
    description: 'Only these statuses; repeat the parameter or separate with commas.',
    example: [MomentStatus.Failed, MomentStatus.Canceled],
  })
  @commaList()
  @IsOptional()
  @ArrayMaxSize(7)
  @IsEnum(MomentStatus, { each: true })
  status?: MomentStatus[];

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 200, default: 50, description: 'Page size.' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  limit: number = 50;

  @ApiPropertyOptional({ description: 'The `next_cursor` of the previous page.', example: 'MjAyNS0xMS0yNFQxMDowMDowMC4wMDBafDdkMWMyYjY0LTVhMGUtNGM1NS05YTQzLTFmN2U1ZDFjOWIyMA' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

/** A moment as an operator sees it: what the client sees, plus the raw cause of a failure. */
export class AdminMomentDto extends MomentDto {
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The raw cause of the failure, for operators only: may name internal hosts, paths and engine output. Null unless FAILED.',
    example: 'ffmpeg failed: /tmp/mcm-analyze-Xb12/original: Invalid data found when processing input',
  })
  error_detail: string | null;
}

export class JobListDto {
  @ApiProperty({ type: [AdminMomentDto], description: 'Newest first.' })
  items: AdminMomentDto[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for the next page; null on the last page.', example: null })
  next_cursor: string | null;
}

export class MixSummaryDto {
  @ApiProperty({ example: 30000 }) duration_ms: number;
  @ApiProperty({ example: -14.1 }) loudness_lufs: number;
  @ApiProperty({ example: -1.3 }) true_peak_dbtp: number;
}

/** The parts of the machine's context an operator needs to understand a job. */
export class MachineContextDto {
  @ApiProperty({ description: 'How many times the moment was started: 1, plus one per retry.', example: 1 })
  runs: number;

  @ApiProperty({ type: 'object', additionalProperties: { type: 'integer' }, description: 'Attempts per stage in the current run.', example: { analyze: 1, compose: 1 } })
  attempts: Partial<Record<Stage, number>>;

  @ApiProperty({ example: 2 }) total_attempts: number;
  @ApiProperty({ example: true }) has_analysis: boolean;
  @ApiProperty({ example: true }) has_blueprint: boolean;
  @ApiProperty({ example: false }) validated: boolean;

  @ApiProperty({ type: [String], description: 'Names of the objects stored so far.', example: ['original'] })
  assets: string[];

  @ApiProperty({ type: MixSummaryDto, nullable: true })
  mix: MixSummaryDto | null;
}

export class MachineStateDto {
  @ApiProperty({ description: 'Version of the machine that saved the snapshot.', example: 1 })
  version: number;

  @ApiProperty({ description: 'The state value as one label.', example: 'active.analyzing.compose' })
  state: string;

  @ApiProperty({
    oneOf: [{ type: 'string' }, { type: 'object', additionalProperties: true }],
    description: 'The raw XState state value.',
    example: { active: { analyzing: 'compose' } },
  })
  value: unknown;

  @ApiProperty({ type: MachineContextDto })
  context: MachineContextDto;
}

export class TransitionDto {
  @ApiProperty({ description: 'CREATED, STAGE_STARTED, STAGE_SUCCEEDED, STAGE_FAILED, CANCEL, RETRY, DELETED or ASSETS_EXPIRED.', example: 'STAGE_SUCCEEDED' })
  event_type: string;

  @ApiProperty({ enum: STAGES, enumName: 'Stage', nullable: true, example: 'analyze' })
  stage: Stage | null;

  @ApiProperty({ example: 'active.analyzing.analyze' }) from_state: string;
  @ApiProperty({ example: 'active.analyzing.compose' }) to_state: string;

  @ApiProperty({ description: 'False when the machine ignored the event (late, duplicate or stale).', example: true })
  applied: boolean;

  @ApiProperty({ type: String, nullable: true, example: null }) detail: string | null;

  @ApiProperty({ format: 'date-time', example: '2025-11-24T10:00:01.000Z' }) created_at: string;
}

export class WebhookAttemptDto {
  @ApiProperty({ format: 'date-time', example: '2025-11-24T10:00:31.000Z' }) at: string;

  @ApiProperty({ type: 'integer', nullable: true, description: "The receiver's HTTP status; null when no answer came.", example: 500 })
  status: number | null;

  @ApiProperty({ example: 84 }) latency_ms: number;

  @ApiPropertyOptional({ description: 'Why no answer came (timeout, refused destination, network error).', example: 'no answer within 10000 ms' })
  error?: string;
}

export const WEBHOOK_DELIVERY_STATES = ['pending', 'delivered', 'failed', 'gone'] as const;

export class WebhookDeliveryDto {
  @ApiProperty({ description: 'The `webhook-id` every attempt carries.', example: 'msg_7d1c2b64-5a0e-4c55-9a43-1f7e5d1c9b20_42' })
  id: string;

  @ApiProperty({ description: 'The payload `type`.', example: 'moment.completed' })
  event: string;

  @ApiProperty({
    enum: WEBHOOK_DELIVERY_STATES,
    enumName: 'WebhookDeliveryState',
    description: 'pending: attempts remain; delivered: a 2xx answer; failed: the retry schedule ran out or the destination was refused; gone: the URL answered 410, nothing more is sent to it.',
    example: 'delivered',
  })
  state: (typeof WEBHOOK_DELIVERY_STATES)[number];

  @ApiProperty({ type: [WebhookAttemptDto], description: 'Every attempt, oldest first.' })
  attempts: WebhookAttemptDto[];
}

export class AdminJobDto extends AdminMomentDto {
  @ApiProperty({ type: MachineStateDto })
  machine: MachineStateDto;

  @ApiProperty({ type: [TransitionDto], description: 'Every event offered to the machine, oldest first.' })
  history: TransitionDto[];

  @ApiProperty({ type: [WebhookDeliveryDto], description: "Deliveries to the moment's webhook, oldest event first; empty without a webhook." })
  webhook_deliveries: WebhookDeliveryDto[];
}

export const RETRYABLE_STATUSES = [MomentStatus.Failed, MomentStatus.Canceled] as const;

export class RetryFailedJobsDto {
  @ApiPropertyOptional({
    enum: RETRYABLE_STATUSES,
    enumName: 'RetryableStatus',
    isArray: true,
    default: [MomentStatus.Failed],
    description: 'Which finished jobs to retry.',
  })
  @IsOptional()
  @ArrayMaxSize(2)
  @IsIn(RETRYABLE_STATUSES, { each: true })
  status?: (typeof RETRYABLE_STATUSES)[number][];

  @ApiPropertyOptional({ enum: STAGES, enumName: 'Stage', description: 'Only jobs that failed in this stage.', example: 'render_vocals' })
  @IsOptional()
  @IsIn(STAGES)
  stage?: Stage;

  @ApiPropertyOptional({ maxLength: 64, description: 'Only jobs whose error has this code.', example: 'AUDIO_ENGINE_FAILED' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Z0-9_]{1,64}$/, { message: 'code must be UPPER_SNAKE' })
  code?: string;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'Only jobs created at or after this instant.', example: '2025-11-24T00:00:00Z' })
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  created_after?: Date;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 500, default: 100, description: 'At most this many jobs.' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;
}

export class RetryFailedResultDto {
  @ApiProperty({ type: [String], format: 'uuid', description: 'Ids of the jobs that were resumed.' })
  retried: string[];

  @ApiProperty({ example: 3 })
  count: number;
}
