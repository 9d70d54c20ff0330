import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class FieldErrorDto {
  @ApiProperty({ description: 'JSON Pointer of the offending value; `/` for the whole value.', example: '/tempo_bpm' })
  path: string;

  @ApiProperty({ description: 'What is wrong with it.', example: 'must be <= 220' })
  message: string;
}

/** RFC 9457 problem details, the body of every error response. */
export class ProblemDto {
  @ApiProperty({ description: 'A URI naming the kind of problem.', example: 'https://main-character.app/problems/moment-not-found' })
  type: string;

  @ApiProperty({ description: 'The HTTP reason phrase of `status`.', example: 'Not Found' })
  title: string;

  @ApiProperty({ description: 'The HTTP status code.', example: 404 })
  status: number;

  @ApiProperty({ description: 'What went wrong, for humans.', example: 'No moment with id 7d1c2b64-5a0e-4c55-9a43-1f7e5d1c9b20.' })
  detail: string;

  @ApiProperty({
    description: 'Stable machine-readable code (UPPER_SNAKE); branch on this, not on `detail`.',
    example: 'MOMENT_NOT_FOUND',
  })
  code: string;

  @ApiProperty({ description: 'The request path that produced the problem.', example: '/v1/moments/7d1c2b64-5a0e-4c55-9a43-1f7e5d1c9b20' })
  instance: string;

  @ApiPropertyOptional({ type: [FieldErrorDto], description: 'Every invalid field, for `VALIDATION_FAILED` and `BLUEPRINT_INVALID`.' })
  errors?: FieldErrorDto[];
}
