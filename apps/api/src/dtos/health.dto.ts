import { ApiProperty } from '@nestjs/swagger';

export enum CheckState {
  Up = 'up',
  Down = 'down',
}

export class HealthDto {
  @ApiProperty({ enum: ['ok'], example: 'ok' })
  status: 'ok';
}

export class ReadinessChecksDto {
  @ApiProperty({ enum: CheckState, enumName: 'CheckState', example: CheckState.Up }) database: CheckState;
  @ApiProperty({ enum: CheckState, enumName: 'CheckState', example: CheckState.Up }) redis: CheckState;
  @ApiProperty({ enum: CheckState, enumName: 'CheckState', example: CheckState.Up }) storage: CheckState;
  @ApiProperty({ enum: CheckState, enumName: 'CheckState', example: CheckState.Up }) music_tools: CheckState;
}

export enum FfmpegSource {
  FfmpegPath = 'FFMPEG_PATH',
  Path = 'PATH',
  Bundled = 'bundled',
}

export class FfmpegInUseDto {
  @ApiProperty({ example: '5.1.9-0+deb12u1', description: 'As `ffmpeg -version` reports it; the bundled build reports a git snapshot name.' })
  version: string;

  @ApiProperty({
    enum: FfmpegSource,
    enumName: 'FfmpegSource',
    example: FfmpegSource.Path,
    description: 'Where it came from: `FFMPEG_PATH`, an ffmpeg of release 5 or later on `PATH`, or the build bundled with the app.',
  })
  source: FfmpegSource;
}

export class ReadinessDto {
  @ApiProperty({ enum: ['ok', 'error'], example: 'ok', description: '`ok` when every dependency answers.' })
  status: 'ok' | 'error';

  @ApiProperty({ type: ReadinessChecksDto })
  checks: ReadinessChecksDto;

  @ApiProperty({ type: FfmpegInUseDto, description: 'The ffmpeg this api decodes uploads with.' })
  ffmpeg: FfmpegInUseDto;
}
