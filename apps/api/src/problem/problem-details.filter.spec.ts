import { BadRequestException, Logger, NotFoundException, type ArgumentsHost } from '@nestjs/common';
import { describe, expect, it, vi } from 'vitest';
import { AppError } from './app-error';
import { ProblemDetailsFilter } from './problem-details.filter';
import { renderProblem } from './problem-response';

function host(url = '/v1/moments/x') {
  const headers: Record<string, string> = {};
  const response = {
    headersSent: false,
    statusCode: 200,
    body: '',
    setHeader: (name: string, value: string) => (headers[name.toLowerCase()] = value),
    end: (body: string) => (response.body = body),
    on: vi.fn(),
  };
  const request = { url, originalUrl: url, method: 'GET', headers: {}, complete: true, socket: {} };
  const argumentsHost = { switchToHttp: () => ({ getRequest: () => request, getResponse: () => response }) } as unknown as ArgumentsHost;
  return { argumentsHost, response, headers };
}

describe('ProblemDetailsFilter', () => {
  it('renders an AppError as problem+json with code, instance, errors and headers', () => {
    const { argumentsHost, response, headers } = host('/v1/admin/jobs?limit=0');
    const error = new AppError(401, 'UNAUTHORIZED', 'no token', { headers: { 'WWW-Authenticate': 'Bearer' }, errors: [{ path: '/a', message: 'bad' }] });
    new ProblemDetailsFilter().catch(error, argumentsHost);
    expect(response.statusCode).toBe(401);
    expect(headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(headers['www-authenticate']).toBe('Bearer');
    expect(JSON.parse(response.body)).toEqual({
      type: 'https://main-character.app/problems/unauthorized',
      title: 'Unauthorized',
      status: 401,
      detail: 'no token',
      code: 'UNAUTHORIZED',
      instance: '/v1/admin/jobs',
      errors: [{ path: '/a', message: 'bad' }],
    });
  });

  it('maps framework exceptions to codes: unknown route, invalid JSON', () => {
    expect(renderProblem(new NotFoundException('Cannot GET /nope')).problem).toMatchObject({ status: 404, code: 'NOT_FOUND', detail: 'Cannot GET /nope' });
    const parseError = Object.assign(new SyntaxError('Unexpected token } in JSON at position 1'), { status: 400, type: 'entity.parse.failed' });
    expect(renderProblem(new BadRequestException(parseError.message, { cause: parseError })).problem).toMatchObject({
      status: 400,
      code: 'INVALID_JSON',
      detail: 'The request body is not valid JSON.',
    });
    expect(renderProblem(Object.assign(new Error('request entity too large'), { status: 413, type: 'entity.too.large', expose: true })).problem).toMatchObject({
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    });
  });

  it('never leaks internals of an unexpected error', () => {
    const { argumentsHost, response } = host();
    const logged = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const filter = new ProblemDetailsFilter({ ADMIN_TOKEN: 'admin-token-0123456789', MCP_AUTH_TOKEN: 'mcp-token-abcdef' });
    filter.catch(new Error('connect ECONNREFUSED postgres://user:secret@db; sent admin-token-0123456789 and mcp-token-abcdef'), argumentsHost);
    const lines = logged.mock.calls.map((call) => String(call[0]));
    logged.mockRestore();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('postgres://***@db');
    for (const secret of ['secret', 'admin-token-0123456789', 'mcp-token-abcdef']) expect(lines[0]).not.toContain(secret);
    expect(response.statusCode).toBe(500);
    const body = JSON.parse(response.body);
    expect(body).toMatchObject({ status: 500, code: 'INTERNAL_ERROR', title: 'Internal Server Error' });
    expect(response.body).not.toContain('secret');
  });

  it('adds extension members without letting them override the standard ones', () => {
    const rendered = renderProblem(new AppError(503, 'NOT_READY', 'down', { extensions: { checks: { redis: 'down' }, status: 'bogus' } }));
    expect(rendered.problem).toMatchObject({ status: 503, code: 'NOT_READY', checks: { redis: 'down' } });
  });
});
