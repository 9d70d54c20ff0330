import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { MomentStatus, OutputKind, STAGES, type Blueprint, type Stage } from '@mcm/pipeline';

export const MOMENT_ID_EXAMPLE = '7d1c2b64-5a0e-4c55-9a43-1f7e5d1c9b20';
const URL_EXAMPLE = `https://storage.example.com/main-character/moments/${MOMENT_ID_EXAMPLE}/preview.mp3?X-Amz-Expires=900&X-Amz-Signature=…`;

/** Schema-only: the blueprint is published as its own component, built from the JSON Schema. */
export const BLUEPRINT_REF = { $ref: getSchemaPath('Blueprint') };

export class MomentAssetsDto {
  @ApiProperty({ type: String, nullable: true, description: 'The upload as received.', example: URL_EXAMPLE })
  original: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'Rendered vocal stem (WAV).' })
  vocals: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'Rendered instrumental stem (WAV).' })
  instrumental: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'Mixed and mastered preview (MP3, −14 LUFS).', example: URL_EXAMPLE })
  preview: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'Lossless master (WAV).' })
  master: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'The melody as a standard MIDI file.' })
  midi: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'Waveform peaks (JSON) for drawing the preview.' })
  peaks: string | null;
}

export class MomentErrorDto {
  @ApiProperty({ enum: STAGES, enumName: 'Stage', nullable: true, description: 'The stage that failed.', example: 'analyze' })
  stage: Stage | null;

  @ApiProperty({ description: 'Stable error code.', example: 'AUDIO_UNDECODABLE' })
  code: string;

  @ApiProperty({
    description: 'What went wrong, in a sentence written for clients: the same for every moment that fails with this code, never internal details.',
    example: 'The recording could not be read. Try again with another recording.',
  })
  message: string;

  @ApiProperty({ description: 'Whether an operator retry can help.', example: false })
  retryable: boolean;
}

export class DetectedNoteDto {
  @ApiProperty({ description: 'MIDI note number.', example: 62 })
  midi: number;

  @ApiProperty({ description: 'Start, seconds from the beginning of the upload.', example: 1.25 })
  onset_s: number;

  @ApiProperty({ description: 'Length in seconds.', example: 0.5 })
  duration_s: number;
}

/** What the analysis stage read from the upload. */
export class AnalysisDto {
  @ApiProperty({ example: 12.04 }) duration_s: number;
  @ApiProperty({ example: 48000 }) sample_rate: number;
  @ApiProperty({ example: 1 }) channels: number;
  @ApiProperty({ description: 'Integrated loudness of the upload.', example: -45.2 }) loudness_lufs: number;
  @ApiProperty({ example: -24.1 }) peak_dbfs: number;
  @ApiProperty({ example: 0.42 }) voiced_start_s: number;
  @ApiProperty({ example: 11.6 }) voiced_end_s: number;
  @ApiProperty({ type: Number, nullable: true, example: 196.4 }) median_pitch_hz: number | null;
  @ApiProperty({ type: [DetectedNoteDto] }) notes: DetectedNoteDto[];
  @ApiProperty({ example: 96 }) tempo_bpm: number;
  @ApiProperty({ enum: ['onsets', 'style'], enumName: 'TempoSource', example: 'onsets' }) tempo_source: 'onsets' | 'style';
  @ApiProperty({ example: 'Am' }) key: string;
  @ApiProperty({ example: 0.71 }) key_confidence: number;
  @ApiProperty({ example: 0.35 }) energy: number;
}

/** Milliseconds each finished stage took. */
export class StageTimingsDto {
  @ApiPropertyOptional({ example: 840 }) analyze?: number;
  @ApiPropertyOptional({ example: 12 }) compose?: number;
  @ApiPropertyOptional({ example: 30 }) validate?: number;
  @ApiPropertyOptional({ example: 2100 }) render_vocals?: number;
  @ApiPropertyOptional({ example: 1800 }) render_instrumental?: number;
  @ApiPropertyOptional({ example: 1500 }) mix?: number;
}

/** A moment: one upload on its way to becoming a theme song. */
export class MomentDto {
  @ApiProperty({ format: 'uuid', example: MOMENT_ID_EXAMPLE })
  id: string;

  @ApiProperty({ format: 'uuid', description: 'Same as `id`; kept for clients of the original API.', example: MOMENT_ID_EXAMPLE })
  job_id: string;

  @ApiProperty({ enum: MomentStatus, enumName: 'MomentStatus', example: MomentStatus.Rendering })
  status: MomentStatus;

  @ApiProperty({ enum: STAGES, enumName: 'Stage', nullable: true, description: 'The stage in progress (or that failed); null when finished.', example: 'render_vocals' })
  stage: Stage | null;

  @ApiProperty({ minimum: 0, maximum: 1, description: 'Share of the work done, 0..1.', example: 0.45 })
  progress: number;

  @ApiProperty({ enum: OutputKind, enumName: 'OutputKind', example: OutputKind.Preview })
  output_kind: OutputKind;

  @ApiProperty({ type: String, nullable: true, example: 'cinematic' })
  style: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'Monday Morning Hero' })
  title: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'The uploaded file name, sanitised; metadata only.', example: 'hum.m4a' })
  original_filename: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'Presigned URL of the upload (expires).', example: URL_EXAMPLE })
  original_audio_url: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'Presigned URL of the finished preview once COMPLETED (expires).', example: null })
  final_audio_url: string | null;

  @ApiProperty({ allOf: [BLUEPRINT_REF], nullable: true, description: 'The blueprint given at upload or composed from the analysis.' })
  blueprint_json: Blueprint | null;

  @ApiProperty({ type: MomentAssetsDto, description: 'Presigned URLs of every object of the moment; null until it exists.' })
  assets: MomentAssetsDto;

  @ApiProperty({ type: AnalysisDto, nullable: true })
  analysis: AnalysisDto | null;

  @ApiProperty({ type: MomentErrorDto, nullable: true, description: 'Why the moment FAILED; null otherwise.' })
  error: MomentErrorDto | null;

  @ApiProperty({ description: 'Stage attempts so far, over all stages and runs.', example: 4 })
  attempts: number;

  @ApiProperty({ format: 'date-time', example: '2025-11-24T10:00:00.000Z' })
  created_at: string;

  @ApiProperty({ format: 'date-time', example: '2025-11-24T10:00:05.120Z' })
  updated_at: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: null })
  completed_at: string | null;

  @ApiProperty({ type: StageTimingsDto })
  timings_ms: StageTimingsDto;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When RETENTION_DAYS removed the original recording and the stems; their URLs are null from then on. The finished preview stays.',
    example: null,
  })
  assets_expired_at: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When the moment was deleted. Only operators see deleted moments; clients get 410.', example: null })
  deleted_at: string | null;
}
