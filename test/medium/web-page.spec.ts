import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiWorld, type ApiWorld } from '../support/in-process-api';

const INDEX = `<!doctype html><html><head><meta name="mcm-config" content="{}" /><script type="module" crossorigin src="/assets/index-abc123.js"></script></head><body><div id="app"></div></body></html>`;

function directives(header: string | null): Record<string, string[]> {
  return Object.fromEntries(
    (header ?? '')
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .map(([name, ...sources]) => [name, sources]),
  );
}

/** The api serves the built page beside its own routes, which keep answering as before. */
describe('the page, served by the api', () => {
  let api: ApiWorld;
  let page: string;

  beforeAll(async () => {
    page = mkdtempSync(join(tmpdir(), 'mcm-page-'));
    mkdirSync(join(page, 'assets'));
    writeFileSync(join(page, 'index.html'), INDEX);
    writeFileSync(join(page, 'assets/index-abc123.js'), 'console.log("page")');
    writeFileSync(join(page, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    api = await startApiWorld({ API_KEYS: 'page-spec-key-0123456789', MAX_UPLOAD_MB: '7', S3_BUCKET: 'page-bucket' }, page);
  });

  afterAll(async () => {
    await api?.close();
    rmSync(page, { recursive: true, force: true });
  });

  it('serves index.html at / and /m/{id}, never cached, with the deployment settings in its meta tag', async () => {
    for (const path of ['/', `/m/${randomUUID()}`]) {
      const response = await fetch(`${api.base}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(response.headers.get('cache-control')).toBe('no-cache');
      const html = await response.text();
      const content = /<meta name="mcm-config" content="([^"]*)"/
        .exec(html)![1]
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, '&');
      expect(JSON.parse(content)).toEqual({ max_upload_mb: 7, max_audio_seconds: 60, api_keys_required: true });
    }
  });

  it('serves hashed assets cached for good, and other files of the page for revalidation', async () => {
    const script = await fetch(`${api.base}/assets/index-abc123.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const icon = await fetch(`${api.base}/favicon.svg`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('cache-control')).toBe('no-cache');
  });

  it('allows the page its own scripts, the take as a blob and the storage of presigned URLs, and nothing inline', async () => {
    const csp = directives((await fetch(`${api.base}/`)).headers.get('content-security-policy'));
    const storage = new URL(api.config.S3_ENDPOINT).origin;
    expect(csp['script-src']).toEqual(["'self'"]);
    expect(csp['media-src']).toEqual(["'self'", 'blob:', storage]);
    expect(csp['connect-src']).toEqual(["'self'", storage]);
    expect(csp['default-src']).toEqual(["'self'"]);
  });

  it('leaves the api its routes: /v1, /docs, the probes, and 404 problems for unknown paths', async () => {
    const unknown = await fetch(`${api.base}/v1/nothing-here`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const missingAsset = await fetch(`${api.base}/assets/missing.js`);
    expect(missingAsset.status).toBe(404);
    expect(missingAsset.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const deeper = await fetch(`${api.base}/m/${randomUUID()}/extra`);
    expect(deeper.status).toBe(404);
    const moment = await fetch(`${api.base}/v1/moments/${randomUUID()}`);
    expect(moment.status).toBe(401);
    expect((await moment.json()).code).toBe('API_KEY_REQUIRED');
    expect((await fetch(`${api.base}/docs`)).status).toBe(200);
    expect((await fetch(`${api.base}/docs/openapi.json`)).status).toBe(200);
    expect((await fetch(`${api.base}/healthz`)).status).toBe(200);
    expect([200, 503]).toContain((await fetch(`${api.base}/readyz`)).status);
    // A POST to the page's path is not the page.
    expect((await fetch(`${api.base}/`, { method: 'POST' })).status).toBe(404);
  });
});
