import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/app-config';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createLogger, isStatusPoll, pinoLevel } from './logger-options';

const config = loadConfig({
  LOG_LEVEL: 'log',
  ADMIN_TOKEN: 'admin-token-0123456789abcdef',
  API_KEYS: 'client-key-aaaaaaaaaaaa',
  DATABASE_URL: 'postgres://app:db-pass-93f1@127.0.0.1:5432/x',
  MCP_AUTH_TOKEN: 'mcp-token-7a7a7a7a7a7a',
  METRICS_TOKEN: 'metrics-token-4c4c4c4c4c',
  ELEVENLABS_API_KEY: 'xi-key-5151515151',
  S3_ENDPOINT: 'http://127.0.0.1:9000',
  S3_SECRET_ACCESS_KEY: 's3-secret-2b2b2b2b',
});
const SECRETS = ['admin-token-0123456789abcdef', 'client-key-aaaaaaaaaaaa', 'db-pass-93f1', 'mcp-token-7a7a7a7a7a7a', 'metrics-token-4c4c4c4c4c', 'xi-key-5151515151', 's3-secret-2b2b2b2b'];

/** A logger writing into memory, with the options every app uses. */
function capture(level = config.LOG_LEVEL) {
  const lines: string[] = [];
  const logger = createLogger({ ...config, LOG_LEVEL: level }, 'worker', { write: (line: string) => void lines.push(line) });
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, records };
}

describe('logger options', () => {
  it('writes one JSON object per line with a level label, a time, the app and the message', () => {
    const { logger, lines, records } = capture();
    logger.info({ stage: 'mix' }, 'mix of %s done', 'm1');
    expect(lines).toHaveLength(1);
    expect(lines[0].endsWith('\n')).toBe(true);
    expect(records()[0]).toMatchObject({ level: 'info', name: 'worker', stage: 'mix', msg: 'mix of m1 done', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
  });

  it('keeps the LOG_LEVEL names: log is info, verbose is trace', () => {
    expect(pinoLevel('log')).toBe('info');
    expect(pinoLevel('verbose')).toBe('trace');
    const quiet = capture('log');
    quiet.logger.debug('not shown');
    quiet.logger.info('shown');
    expect(quiet.records().map((record) => record.msg)).toEqual(['shown']);
    const chatty = capture('verbose');
    chatty.logger.trace('shown too');
    expect(chatty.records().map((record) => record.level)).toEqual(['trace']);
  });

  it('replaces credential headers of requests and responses whole', () => {
    const { logger, records } = capture();
    const headers = {
      host: 'api.internal',
      authorization: `Bearer ${SECRETS[0]}`,
      'x-api-key': SECRETS[1],
      cookie: 'session=abc',
      'idempotency-key': 'retry-7',
    };
    logger.info({ req: { method: 'POST', url: '/v1/moments', headers }, res: { statusCode: 202, headers: { 'set-cookie': 'session=def' } } }, 'POST /v1/moments 202');
    const [record] = records() as [{ req: { headers: Record<string, string> }; res: { headers: Record<string, string> } }];
    expect(record.req.headers).toEqual({ host: 'api.internal', authorization: '[Redacted]', 'x-api-key': '[Redacted]', cookie: '[Redacted]', 'idempotency-key': '[Redacted]' });
    expect(record.res.headers).toEqual({ 'set-cookie': '[Redacted]' });
    // The object logged is left as it was.
    expect(headers.authorization).toBe(`Bearer ${SECRETS[0]}`);
  });

  it('masks configured secrets and URL credentials in messages, arguments and errors', () => {
    const { logger, lines, records } = capture();
    // Drivers quote their connection strings in errors.
    logger.error(`connect ECONNREFUSED ${config.DATABASE_URL}`);
    logger.warn('token %s refused by %s', SECRETS[3], 'music-tools');
    logger.error({ err: new Error(`auth failed for ${SECRETS[4]} and ${SECRETS[5]}`) }, 'render failed');
    logger.info({ detail: `admin ${SECRETS[0]} used key ${SECRETS[1]}` }, 'moment failed');
    const text = lines.join('');
    for (const secret of SECRETS) expect(text).not.toContain(secret);
    const [driver, token, failure, detail] = records() as Array<Record<string, unknown> & { err?: { message: string; stack: string } }>;
    expect(driver.msg).toBe('connect ECONNREFUSED postgres://***@127.0.0.1:5432/x');
    expect(token.msg).toBe('token *** refused by music-tools');
    expect(failure.err?.message).toBe('auth failed for *** and ***');
    expect(failure.err?.stack).toMatch(/^Error: auth failed for \*\*\* and \*\*\*\n\s+at /);
    expect(detail.detail).toBe('admin *** used key ***');
  });

  it('masks the signature of presigned URLs in fields and messages', () => {
    const { logger, lines, records } = capture();
    const presigned = 'http://127.0.0.1:4569/b/moments/m/preview.mp3?X-Amz-Credential=S3RVER%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=9f8e7d6c5b4a';
    logger.warn({ url: presigned }, `upload to ${presigned} answered 403`);
    expect(lines.join('')).not.toMatch(/9f8e7d6c5b4a|S3RVER%2F/);
    expect(records()[0]).toMatchObject({ url: expect.stringContaining('X-Amz-Signature=***'), msg: expect.stringContaining('X-Amz-Credential=***') });
  });

  it('counts a successful moment read as a status poll, logged at debug; anything else stays at info', () => {
    const poll = (method: string, url: string, statusCode: number) => isStatusPoll({ method, url } as IncomingMessage, { statusCode } as ServerResponse);
    const id = '0b8f6a1e-3c2d-4f5e-9a7b-1c2d3e4f5a6b';
    expect(poll('GET', `/v1/moments/${id}`, 200)).toBe(true);
    expect(poll('GET', `/v1/moments/${id}`, 304)).toBe(true);
    expect(poll('HEAD', `/v1/status/${id}?x=1`, 200)).toBe(true);
    expect(poll('GET', `/v1/moments/${id}`, 404)).toBe(false);
    expect(poll('GET', `/v1/moments/${id}/events`, 200)).toBe(false);
    expect(poll('POST', `/v1/moments/${id}/cancel`, 202)).toBe(false);
    expect(poll('DELETE', `/v1/moments/${id}`, 204)).toBe(false);
    expect(poll('GET', '/v1/admin/jobs', 200)).toBe(false);
  });
});
