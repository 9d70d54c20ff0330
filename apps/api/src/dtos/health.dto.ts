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

export class ReadinessDto {
  @ApiProperty({ enum: ['ok', 'error'], example: 'ok', description: '`ok` when every dependency answers.' })
  status: 'ok' | 'error';

  @ApiProperty({ type: ReadinessChecksDto })
  checks: ReadinessChecksDto;
}
