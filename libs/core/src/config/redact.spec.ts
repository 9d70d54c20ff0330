import { describe, expect, it } from 'vitest';
import { loadConfig } from './app-config';
import { redactSecrets, secretValues } from './redact';

describe('secret redaction', () => {
  it('masks the credentials of any URL', () => {
    expect(redactSecrets('connect ECONNREFUSED postgres://user:secret@db:5432/x')).toBe('connect ECONNREFUSED postgres://***@db:5432/x');
    expect(redactSecrets('rediss://:pa%40ss@cache:6380 and https://token@host/path')).toBe('rediss://***@cache:6380 and https://***@host/path');
    expect(redactSecrets('see https://example.com/a@b')).toBe('see https://example.com/a@b');
  });

  it('masks the signature and credential of presigned URLs, keeping the rest readable', () => {
    const url =
      'http://127.0.0.1:4569/b/moments/x/preview.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA123%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Expires=900&X-Amz-Signature=0f1e2d3c&x-id=PutObject';
    expect(redactSecrets(`PUT ${url} answered 403`)).toBe(
      'PUT http://127.0.0.1:4569/b/moments/x/preview.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***&X-Amz-Expires=900&X-Amz-Signature=***&x-id=PutObject answered 403',
    );
  });

  it('masks every configured secret, wherever it appears', () => {
    const config = loadConfig({
      ADMIN_TOKEN: 'admin-token-0123456789',
      API_KEYS: 'client-key-aaaaaaaa,client-key-bbbbbbbb',
      DATABASE_URL: 'postgres://app:db%2Fpass@127.0.0.1:5432/x',
      MCP_AUTH_TOKEN: 'mcp-token-xyz-0123',
      ELEVENLABS_API_KEY: 'eleven-key-123',
      MCM_API_KEY: 'agent-client-key-789',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_SECRET_ACCESS_KEY: 's3-secret-456',
    });
    const secrets = secretValues(config);
    expect(secrets).toEqual(
      expect.arrayContaining([
        'admin-token-0123456789',
        'client-key-aaaaaaaa',
        'client-key-bbbbbbbb',
        'db/pass',
        'db%2Fpass',
        'mcp-token-xyz-0123',
        'eleven-key-123',
        'agent-client-key-789',
        's3-secret-456',
      ]),
    );
    const line = redactSecrets('sent admin-token-0123456789 with client-key-bbbbbbbb; password db/pass; s3-secret-456', secrets);
    expect(line).toBe('sent *** with ***; password ***; ***');
  });

  it('keeps user names and short values: they are not secrets', () => {
    expect(secretValues(loadConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x' }))).not.toContain('postgres');
  });

  it("masks the secrets of the other apps' settings too, read from the environment without validating them", () => {
    const env = {
      ELEVENLABS_API_KEY: 'eleven-key-0123456789',
      ADMIN_TOKEN: 'admin-token-0123456789',
      API_KEYS: 'client-key-aaaaaaaa, client-key-bbbbbbbb',
      DATABASE_URL: 'postgres://app:db-pass-77@127.0.0.1:5432/x',
      DO_SPACES_SECRET: 'spaces-secret-0123',
    };
    const musicTools = loadConfig(env, 'music-tools');
    expect(secretValues(musicTools)).toEqual([]);
    expect(secretValues(musicTools, env).sort()).toEqual(['admin-token-0123456789', 'client-key-aaaaaaaa', 'client-key-bbbbbbbb', 'db-pass-77', 'eleven-key-0123456789', 'spaces-secret-0123']);
  });
});
