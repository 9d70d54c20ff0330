import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type DestinationStream, type Level, type Logger, type LoggerOptions } from 'pino';
import type { Params } from 'nestjs-pino';
import type { AppConfig } from '../config/app-config';
import { redactSecrets, secretValues } from '../config/redact';

/** The three processes of the stack; each line names the one that wrote it. */
export type LoggingApp = 'api' | 'worker' | 'music-tools';

export type LoggingConfig = Pick<AppConfig, 'LOG_LEVEL'> & Partial<AppConfig>;

/** `LOG_LEVEL` keeps Nest's names; pino calls two of them differently. */
const PINO_LEVEL: Record<AppConfig['LOG_LEVEL'], Level> = { fatal: 'fatal', error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };

export function pinoLevel(level: AppConfig['LOG_LEVEL']): Level {
  return PINO_LEVEL[level];
}

/** Headers that are credentials (or, for Idempotency-Key, a client's replay handle): never written, whatever their value. */
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'cookie', 'set-cookie', 'idempotency-key', 'proxy-authorization'];

/** Fields whose text may quote a secret, a connection string or a presigned URL: masked inside, kept readable. */
const TEXT_FIELDS = ['req.url', 'url', 'err.message', 'err.stack', 'err.detail', 'detail'];

/**
 * The one redaction list of the stack. Credential headers of requests and responses (pino-http's
 * `req`/`res`, or a bare `headers` object) are replaced whole; text fields keep their words with
 * configured secrets, URL credentials and presigned signatures masked.
 */
export const REDACTED_PATHS: readonly string[] = [...CREDENTIAL_HEADERS.flatMap((header) => [`req.headers["${header}"]`, `res.headers["${header}"]`, `headers["${header}"]`]), ...TEXT_FIELDS];

const CREDENTIAL = new Set(CREDENTIAL_HEADERS);

/**
 * pino options shared by all three apps: JSON lines with a level label, an ISO time and the app's
 * name; structured fields redacted by path, and every string handed to a log call (the message and
 * its arguments) masked with `redactSecrets`.
 */
export function loggerOptions(config: LoggingConfig, app: LoggingApp, env: NodeJS.ProcessEnv = process.env): LoggerOptions {
  const secrets = secretValues(config, env);
  const mask = (text: string) => redactSecrets(text, secrets);
  return {
    name: app,
    level: pinoLevel(config.LOG_LEVEL),
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: [...REDACTED_PATHS],
      censor: (value, path) => (CREDENTIAL.has(path[path.length - 1]) ? '[Redacted]' : typeof value === 'string' ? mask(value) : value),
    },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((arg: unknown) => (typeof arg === 'string' ? mask(arg) : arg)) as Parameters<typeof method>);
      },
    },
  };
}

/** Logs go to stderr: stdout carries only the line other processes wait for (or, for MCP on stdio, the protocol). */
export function logDestination(): DestinationStream {
  return pino.destination({ dest: 2, sync: true });
}

export function createLogger(config: LoggingConfig, app: LoggingApp, destination: DestinationStream = logDestination()): Logger {
  return pino(loggerOptions(config, app), destination);
}

/** Node's own warnings (deprecations, a library's notice) become log lines like any other, instead of plain text on stderr. */
export function logProcessWarnings(logger: Pick<Logger, 'warn'>): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => logger.warn({ warning: warning.name }, warning.message));
}

/** A moment read (`GET /v1/moments/{id}`, `GET /v1/status/{id}`) that answered 200 or 304. */
export function isStatusPoll(request: IncomingMessage, response: ServerResponse): boolean {
  return (request.method === 'GET' || request.method === 'HEAD') && response.statusCode < 400 && /^\/v1\/(moments|status)\/[^/?]+(\?|$)/.test(request.url ?? '');
}

/** `LoggerModule.forRoot` of the Nest apps: the same pino options, plus one line per HTTP request where there is HTTP. */
export function nestLoggerParams(config: LoggingConfig, app: LoggingApp, destination: DestinationStream = logDestination()): Params {
  return {
    pinoHttp: [
      {
        ...loggerOptions(config, app),
        // Answers to bad input are the client's business; only server errors are errors here. A
        // client polls a moment every few hundred ms: those reads are debug lines, not one each at info.
        customLogLevel: (request: IncomingMessage, response: ServerResponse, error?: Error) => (error || response.statusCode >= 500 ? 'error' : isStatusPoll(request, response) ? 'debug' : 'info'),
        customSuccessMessage: (request: IncomingMessage, response: ServerResponse) => `${request.method} ${request.url} ${response.statusCode}`,
        customErrorMessage: (request: IncomingMessage, response: ServerResponse) => `${request.method} ${request.url} ${response.statusCode}`,
        // The cause of a 5xx is logged where it was caught (the problem filter); pino-http's own error is a stack of itself.
        customErrorObject: (_request: IncomingMessage, _response: ServerResponse, _error: Error, fields: Record<string, unknown>) => ({ ...fields, err: undefined }),
        // Liveness probes arrive every few seconds and say nothing.
        autoLogging: { ignore: (request: IncomingMessage) => request.url === '/healthz' },
        // The status is what matters of an answer; its headers are the same security headers every time.
        serializers: { res: (response: { statusCode: number }) => ({ statusCode: response.statusCode }) },
      },
      destination,
    ],
  };
}
