import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { HttpException } from '@nestjs/common';
import { AppError, type FieldError } from './app-error';

export const PROBLEM_BASE_URL = 'https://main-character.app/problems/';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** RFC 9457 problem details plus the stable `code` (and `errors` for input problems). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance: string;
  errors?: FieldError[];
}

/** Codes for errors raised by the framework or its middleware rather than by our services. */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  408: 'REQUEST_TIMEOUT',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNPROCESSABLE_CONTENT',
  429: 'TOO_MANY_REQUESTS',
  503: 'SERVICE_UNAVAILABLE',
};

/** body-parser's error types, raised before a route runs. */
const BODY_PARSER_CODES: Record<string, string> = {
  'entity.parse.failed': 'INVALID_JSON',
  'entity.too.large': 'PAYLOAD_TOO_LARGE',
  'encoding.unsupported': 'UNSUPPORTED_ENCODING',
  'charset.unsupported': 'UNSUPPORTED_CHARSET',
  'request.aborted': 'REQUEST_ABORTED',
};

export function problemType(code: string): string {
  return PROBLEM_BASE_URL + code.toLowerCase().replace(/_/g, '-');
}

export interface Rendered {
  /** The problem without `instance`, plus any extension members. */
  problem: Omit<Problem, 'instance'> & Record<string, unknown>;
  headers: Record<string, string>;
  bodyUnread: boolean;
}

function problem(status: number, code: string, detail: string, errors?: FieldError[]): Omit<Problem, 'instance'> {
  return { type: problemType(code), title: STATUS_CODES[status] ?? 'Error', status, detail, code, ...(errors ? { errors } : {}) };
}

function messageOf(exception: HttpException): string {
  const response = exception.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message)) return message.join('; ');
  if (typeof message === 'string') return message;
  return exception.message;
}

/** Maps anything thrown while serving a request to a problem; never leaks internals of a 500. */
export function renderProblem(exception: unknown): Rendered {
  if (exception instanceof AppError) {
    return {
      problem: { ...exception.extras.extensions, ...problem(exception.status, exception.code, exception.detail, exception.extras.errors) },
      headers: exception.extras.headers ?? {},
      bodyUnread: exception.extras.bodyUnread ?? false,
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    // The express adapter wraps body-parser's errors; their `type` names what went wrong.
    const causeType = String((exception.cause as { type?: unknown } | undefined)?.type);
    const code = BODY_PARSER_CODES[causeType] ?? CODE_BY_STATUS[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST');
    const detail = status >= 500 ? 'The server could not complete the request.' : code === 'INVALID_JSON' ? 'The request body is not valid JSON.' : messageOf(exception);
    return { problem: problem(status, code, detail), headers: {}, bodyUnread: false };
  }
  const candidate = exception as { status?: unknown; statusCode?: unknown; type?: unknown; expose?: unknown; message?: unknown };
  const status = Number(candidate?.status ?? candidate?.statusCode);
  // http-errors from body-parser carry a client status and a message that is safe to show.
  if (Number.isInteger(status) && status >= 400 && status < 500 && candidate.expose !== false) {
    const code = BODY_PARSER_CODES[String(candidate.type)] ?? CODE_BY_STATUS[status] ?? 'BAD_REQUEST';
    const detail = code === 'INVALID_JSON' ? 'The request body is not valid JSON.' : typeof candidate.message === 'string' ? candidate.message : String(STATUS_CODES[status]);
    return { problem: problem(status, code, detail), headers: {}, bodyUnread: false };
  }
  return { problem: problem(500, 'INTERNAL_ERROR', 'The server could not complete the request.'), headers: {}, bodyUnread: false };
}

/** How much of a refused body is read and thrown away so the client can read the answer. */
export const DISCARD_LIMIT_BYTES = 128 * 1024 * 1024;
const DISCARD_TIMEOUT_MS = 30_000;

/**
 * After an early answer (413 before the body was read) most clients, Node's fetch among them,
 * only see the response if they can finish sending. The rest of the body is read and dropped
 * chunk by chunk — memory stays flat — up to a bound; past it the connection is cut.
 */
function discardBody(request: IncomingMessage, response: ServerResponse): void {
  if (request.complete) return;
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > DISCARD_LIMIT_BYTES) {
    // Too much to drain: Node closes the connection once the answer is written.
    response.setHeader('Connection', 'close');
    return;
  }
  const cut = () => request.socket.destroy();
  let discarded = 0;
  const timer = setTimeout(cut, DISCARD_TIMEOUT_MS).unref();
  request.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > DISCARD_LIMIT_BYTES) cut();
  });
  request.once('end', () => clearTimeout(timer));
  request.once('close', () => clearTimeout(timer));
  request.resume();
}

/** Writes a problem response with plain Node APIs, so it works before and after Nest's routing. */
export function sendProblem(request: IncomingMessage, response: ServerResponse, rendered: Rendered): void {
  const instance = (request as { originalUrl?: string }).originalUrl ?? request.url ?? '/';
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body: Problem & Record<string, unknown> = { ...rendered.problem, instance: instance.split('?')[0] };
  response.statusCode = body.status;
  for (const [name, value] of Object.entries(rendered.headers)) response.setHeader(name, value);
  response.setHeader('Content-Type', `${PROBLEM_CONTENT_TYPE}; charset=utf-8`);
  response.setHeader('Cache-Control', 'no-store');
  if (rendered.bodyUnread) discardBody(request, response);
  response.end(JSON.stringify(body));
}
