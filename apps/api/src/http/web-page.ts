import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import type { Server, ServerResponse } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import type { ApiConfig } from '@mcm/core';
import { storageLocation } from '@mcm/core/storage/presigned-url';

/** What the page needs to know before its first call; rendered into index.html, so it costs no request. */
export interface PageSettings {
  max_upload_mb: number;
  max_audio_seconds: number;
  api_keys_required: boolean;
}

export type PageConfig = Pick<ApiConfig, 'MAX_UPLOAD_MB' | 'MAX_AUDIO_SECONDS' | 'API_KEYS'>;
export type StorageConfig = Pick<ApiConfig, 'S3_ENDPOINT' | 'S3_BUCKET' | 'S3_FORCE_PATH_STYLE' | 'embeddedStorage'>;

/** Routes of the page: the start screen and one moment. Everything else is the api's. */
const PAGE_ROUTE = /^\/(?:m\/[^/]+\/?)?$/;
/** Vite names built assets by content hash, so a browser may keep them for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const SETTINGS_META = /<meta name="mcm-config" content="[^"]*"\s*\/?>/;

/** The built page (`npm run build` writes it to dist/web), or null when it was not built. */
export function builtPageDirectory(from: string = __dirname): string | null {
  let dir = from;
  while (!existsSync(join(dir, 'nest-cli.json')) && dirname(dir) !== dir) dir = dirname(dir);
  const page = join(dir, 'dist/web');
  return existsSync(join(page, 'index.html')) ? page : null;
}

export function pageSettings(config: PageConfig): PageSettings {
  return { max_upload_mb: config.MAX_UPLOAD_MB, max_audio_seconds: config.MAX_AUDIO_SECONDS, api_keys_required: Boolean(config.API_KEYS?.length) };
}

/** index.html with the deployment's settings in its `mcm-config` meta tag (an attribute, never an inline script). */
export function renderIndex(html: string, settings: PageSettings): string {
  const content = JSON.stringify(settings).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return html.replace(SETTINGS_META, `<meta name="mcm-config" content="${content}" />`);
}

/**
 * Origins the page may load media and the peaks JSON from: the storage that presigns the moment's
 * URLs, path-style (`endpoint/bucket/key`) and, unless path-style is forced, virtual-hosted (`bucket.endpoint`).
 */
export function storageOrigins(config: StorageConfig): string[] {
  const location = storageLocation(config);
  const endpoint = new URL(location.endpoint);
  const origins = [endpoint.origin];
  if (!location.forcePathStyle) origins.push(`${endpoint.protocol}//${location.bucket}.${endpoint.host}`);
  return origins;
}

/**
 * Serves the built page at `/` and `/m/{id}` (index.html, never cached) and its hashed assets
 * (cached for good). Only files that exist and the two page routes are answered here: `/v1`,
 * `/docs`, the probes and the 404 problem of unknown routes stay the api's.
 */
export function servePage(app: INestApplication<Server>, config: PageConfig, directory: string | null = builtPageDirectory()): boolean {
  if (!directory) return false;
  const index = renderIndex(readFileSync(join(directory, 'index.html'), 'utf8'), pageSettings(config));
  const entries = readdirSync(directory, { withFileTypes: true });
  // Each folder of the build (the hashed assets) under its own prefix: a request elsewhere (every api call) never makes the static server look at the disk.
  for (const folder of entries.filter((entry) => entry.isDirectory())) {
    (app as unknown as NestExpressApplication).useStaticAssets(join(directory, folder.name), {
      prefix: `/${folder.name}/`,
      index: false,
      redirect: false,
      setHeaders: (response: ServerResponse, path: string) => {
        response.setHeader('Cache-Control', path.includes(`${sep}assets${sep}`) ? IMMUTABLE : 'no-cache');
      },
    });
  }
  // The build's top-level files (the icon), by name; index.html only as the page, with its settings rendered in.
  const files = new Set(entries.filter((entry) => entry.isFile() && entry.name !== 'index.html').map((entry) => `/${entry.name}`));
  app.use((request: Request, response: Response, next: NextFunction) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return next();
    if (files.has(request.path)) {
      response.sendFile(join(directory, request.path.slice(1)), { headers: { 'Cache-Control': 'no-cache' } });
      return;
    }
    if (!PAGE_ROUTE.test(request.path)) return next();
    response.setHeader('Cache-Control', 'no-cache');
    response.type('html').send(index);
  });
  return true;
}
