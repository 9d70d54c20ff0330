import { STATUS_CODES } from 'node:http';
import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { ProblemDto } from '../dtos/problem.dto';
import { PROBLEM_CONTENT_TYPE, problemType } from './problem-response';

/** Documents an error response: problem details with the `code`s this status can carry. */
export function ApiProblem(status: number, codes: string[], description: string) {
  const code = codes[0];
  return applyDecorators(
    ApiExtraModels(ProblemDto),
    ApiResponse({
      status,
      description: `${description} Codes: ${codes.map((c) => `\`${c}\``).join(', ')}.`,
      content: {
        [PROBLEM_CONTENT_TYPE]: {
          schema: { $ref: getSchemaPath(ProblemDto) },
          example: { type: problemType(code), title: STATUS_CODES[status], status, detail: description, code, instance: '/v1/…' },
        },
      },
    }),
  );
}
