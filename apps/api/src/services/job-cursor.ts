import { MOMENT_ID } from '@mcm/core';
import { AppError } from '../problem/app-error';

export interface JobCursor {
  createdAt: Date;
  id: string;
}

/** The position after a row in `created_at DESC, id DESC` order, opaque to clients. */
export function encodeCursor(cursor: JobCursor): string {
  return Buffer.from(`${cursor.createdAt.toISOString()}|${cursor.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(value: string): JobCursor {
  const invalid = () => new AppError(400, 'INVALID_CURSOR', 'The cursor is not one this API returned.', { errors: [{ path: '/cursor', message: 'is invalid' }] });
  if (!/^[A-Za-z0-9_-]+$/.test(value)) throw invalid();
  const [createdAt, id, ...rest] = Buffer.from(value, 'base64url').toString('utf8').split('|');
  const date = new Date(createdAt);
  if (rest.length || !id || !MOMENT_ID.test(id) || !/^\d{4}-\d{2}-\d{2}T/.test(createdAt) || Number.isNaN(date.getTime())) throw invalid();
  return { createdAt: date, id: id.toLowerCase() };
}
