import type { IncomingMessage, ServerResponse } from 'node:http';
import { Catch, Inject, Logger, Optional, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { APP_CONFIG, redactSecrets, secretValues, type ApiConfig } from '@mcm/core';
import { AppError } from './app-error';
import { renderProblem, sendProblem } from './problem-response';

@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Problem');
  private readonly secrets: string[];

  constructor(@Optional() @Inject(APP_CONFIG) config?: Partial<ApiConfig>) {
    this.secrets = config ? secretValues(config, process.env) : [];
  }

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<IncomingMessage>();
    const response = http.getResponse<ServerResponse>();
    const rendered = renderProblem(exception);
    const where = `${request.method} ${request.url?.split('?')[0]}`;
    if (exception instanceof AppError) {
      // Answered on purpose (not ready, engine unavailable): worth a line, not a stack.
      if (exception.status >= 500) this.logger.warn(`${where}: ${exception.code} ${exception.detail}`);
    } else if (rendered.problem.status >= 500) {
      // Errors of drivers quote connection strings and requests: mask credentials before logging.
      this.logger.error(redactSecrets(`${where}: ${(exception as Error)?.stack ?? String(exception)}`, this.secrets));
    }
    sendProblem(request, response, rendered);
  }
}
