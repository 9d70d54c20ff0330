import type { NextFunction, Request, Response } from 'express';
import type { AppMetrics } from './metrics';
import { traceHttpRequest } from './tracing';

/** The route template Express matched (`/v1/moments/:id`), read once the answer ends; undefined when no route matched. */
function routeTemplate(request: Request): string | undefined {
  const route = request.route as { path?: unknown } | undefined;
  return typeof route?.path === 'string' ? `${request.baseUrl}${route.path}` : undefined;
}

/**
 * Express middleware, first in the chain: counts and times every request by method, route template
 * and status, and (with tracing on, unless `spans` is false) runs it inside a server span. A timer
 * and a listener per request.
 */
export function observeHttp(metrics: AppMetrics, options: { spans?: boolean } = {}) {
  const spans = options.spans ?? true;
  return (request: Request, response: Response, next: NextFunction): void => {
    const route = () => routeTemplate(request);
    metrics.trackHttpRequest(request, response, route);
    if (spans) traceHttpRequest(request, response, route, next);
    else next();
  };
}
