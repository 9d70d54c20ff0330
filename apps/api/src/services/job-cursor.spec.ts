import { describe, expect, it } from 'vitest';
import { AppError } from '../problem/app-error';
import { decodeCursor, encodeCursor } from './job-cursor';

describe('job cursor', () => {
  it('round-trips created_at and id through an opaque base64url string', () => {
    const cursor = { createdAt: new Date('2025-11-24T10:00:00.123Z'), id: '7d1c2b64-5a0e-4c55-9a43-1f7e5d1c9b20' };
    const encoded = encodeCursor(cursor);
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(encoded, 'base64url').toString()).toBe('2025-11-24T10:00:00.123Z|7d1c2b64-5a0e-4c55-9a43-1f7e5d1c9b20');
    expect(decodeCursor(encoded)).toEqual(cursor);
  });

  it.each([
    ['garbage', 'not a cursor!'],
    ['no id', Buffer.from('2025-11-24T10:00:00.000Z').toString('base64url')],
    ['bad date', Buffer.from('yesterday|7d1c2b64-5a0e-4c55-9a43-1f7e5d1c9b20').toString('base64url')],
    ['bad id', Buffer.from("2025-11-24T10:00:00.000Z|1' OR 1=1").toString('base64url')],
    ['extra parts', Buffer.from('2025-11-24T10:00:00.000Z|7d1c2b64-5a0e-4c55-9a43-1f7e5d1c9b20|x').toString('base64url')],
  ])('refuses %s with 400 INVALID_CURSOR', (_name, value) => {
    let error: unknown;
    try {
      decodeCursor(value);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ status: 400, code: 'INVALID_CURSOR' });
  });
});
