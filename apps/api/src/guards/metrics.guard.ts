import type { IncomingMessage } from 'node:http';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { APP_CONFIG, metricsAccess, type ApiConfig } from '@mcm/core';
import { AppError } from '../problem/app-error';

/**
 * `/metrics` needs `Authorization: Bearer <METRICS_TOKEN>` when a token is configured. Without one
 * it is served only while the api listens on loopback; on any other `HOST` it does not exist (404).
 */
@Injectable()
export class MetricsGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: Pick<ApiConfig, 'METRICS_TOKEN' | 'HOST'>) {}

  canActivate(context: ExecutionContext): boolean {
    const { authorization } = context.switchToHttp().getRequest<IncomingMessage>().headers;
    const access = metricsAccess({ token: this.config.METRICS_TOKEN, host: this.config.HOST }, authorization);
    if (access === 'hidden') throw new AppError(404, 'METRICS_DISABLED', 'Metrics are served on a loopback listener, or with a METRICS_TOKEN.');
    if (access === 'unauthorized') {
      throw new AppError(401, 'UNAUTHORIZED', 'Send the metrics token as `Authorization: Bearer <token>`.', {
        headers: { 'WWW-Authenticate': 'Bearer realm="metrics"' },
      });
    }
    return true;
  }
}
