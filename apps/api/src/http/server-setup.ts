import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import type { Express } from 'express';
import helmet from 'helmet';
import { AppMetrics, observeHttp, type ApiConfig } from '@mcm/core';
import { setupOpenApi } from '../openapi';
import { renderProblem, sendProblem } from '../problem/problem-response';
import { maxUploadBodyBytes, uploadTooLarge } from './multipart-upload';
import { servePage, storageOrigins, type PageConfig, type StorageConfig } from './web-page';

export type ServerConfig = Pick<ApiConfig, 'CORS_ORIGINS' | 'MAX_UPLOAD_MB'> & PageConfig & StorageConfig;

/**
 * Everything the running app adds around the module: request metrics and spans, headers, CORS, the page,
 * the upload gate, shutdown, docs. The tests call it too; `pageDirectory` is the built page (found in
 * dist/web by default). Answers whether the page is served.
 */
export function configureApi(app: INestApplication<Server>, config: ServerConfig, pageDirectory?: string | null): boolean {
  (app.getHttpAdapter().getInstance() as Express).disable('x-powered-by');
  // First, so every answer is counted, refusals by later middleware included.
  app.use(observeHttp(app.get(AppMetrics)));
  const storage = storageOrigins(config);
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          // Swagger UI at /docs uses inline styles; plain-http deployments must not have their assets upgraded.
          'style-src': ["'self'", "'unsafe-inline'", 'https:'],
          // The page plays the take it just recorded (a blob: URL) and the preview from presigned URLs of the storage; it reads the peaks from there too.
          'media-src': ["'self'", 'blob:', ...storage],
          'connect-src': ["'self'", ...storage],
          'upgrade-insecure-requests': null,
        },
      },
    }),
  );
  const origins =
    config.CORS_ORIGINS?.split(',')
      .map((origin) => origin.trim())
      .filter(Boolean) ?? [];
  if (origins.length) {
    app.enableCors({
      origin: origins,
      allowedHeaders: ['Content-Type', 'Authorization', 'X-Api-Key', 'Idempotency-Key', 'Last-Event-ID'],
      exposedHeaders: ['Retry-After'],
      maxAge: 600,
    });
  }
  const pageServed = servePage(app, config, pageDirectory);
  gateExpectContinue(app.getHttpServer(), config.MAX_UPLOAD_MB);
  app.enableShutdownHooks();
  setupOpenApi(app);
  return pageServed;
}

/**
 * Answers `Expect: 100-continue` requests: an upload whose Content-Length is over the limit gets
 * its 413 before the client sends a byte of the body; every other request is told to continue.
 */
export function gateExpectContinue(server: Server, maxUploadMb: number): void {
  const maxBytes = maxUploadBodyBytes(maxUploadMb);
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      response.setHeader('Connection', 'close');
      // The client sends no body until told to continue: there is nothing to drain.
      return sendProblem(request, response, { ...renderProblem(uploadTooLarge(maxUploadMb)), bodyUnread: false });
    }
    response.writeContinue();
    server.emit('request', request, response);
  });
}
