import type { AppConfig } from '../config/app-config';

/** Where the stack's objects live, as much of it as a URL can show. */
export interface StorageLocation {
  endpoint: string;
  bucket: string;
  forcePathStyle: boolean;
}

/** `S3_FORCE_PATH_STYLE` when set; otherwise path-style everywhere but AWS, whose buckets are virtual hosts. */
export function usesPathStyle(config: Pick<AppConfig, 'S3_FORCE_PATH_STYLE' | 'S3_ENDPOINT' | 'embeddedStorage'>): boolean {
  if (config.S3_FORCE_PATH_STYLE) return config.S3_FORCE_PATH_STYLE === 'true';
  return config.embeddedStorage || !/amazonaws\.com/.test(config.S3_ENDPOINT);
}

export function storageLocation(config: Pick<AppConfig, 'S3_FORCE_PATH_STYLE' | 'S3_ENDPOINT' | 'S3_BUCKET' | 'embeddedStorage'>): StorageLocation {
  return { endpoint: config.S3_ENDPOINT, bucket: config.S3_BUCKET, forcePathStyle: usesPathStyle(config) };
}

/** The query parameters every SigV4 presigned URL carries, each exactly once. */
const SIGV4_QUERY = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature'];

function isPresigned(query: URLSearchParams): boolean {
  if (!SIGV4_QUERY.every((name) => query.getAll(name).length === 1 && query.get(name))) return false;
  return query.get('X-Amz-Algorithm') === 'AWS4-HMAC-SHA256' && /^[0-9a-f]{64}$/.test(query.get('X-Amz-Signature')!);
}

/** Keys this stack writes: no empty, `.` or `..` segment, no control character, no backslash. */
function isPlainKey(key: string): boolean {
  if (/[\p{Cc}\\]/u.test(key)) return false;
  return key.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/**
 * The object key a presigned (SigV4) URL of this storage's bucket names, or null for anything else:
 * another scheme, host, port or bucket, credentials in the URL, no signature, or an odd key. Path-style
 * (`endpoint/bucket/key`) always; virtual-hosted (`bucket.endpoint/key`) too unless path-style is forced,
 * because the SDK falls back to path-style for buckets that cannot be host names. Only storage can
 * check the signature itself.
 */
export function presignedObjectKey(url: string, storage: StorageLocation): string | null {
  let target: URL;
  let endpoint: URL;
  try {
    target = new URL(url);
    endpoint = new URL(storage.endpoint);
  } catch {
    return null;
  }
  if (target.protocol !== endpoint.protocol || target.port !== endpoint.port || target.username || target.password) return null;
  if (!isPresigned(target.searchParams)) return null;
  const base = endpoint.pathname.replace(/\/+$/, '');
  let encodedKey: string | null = null;
  if (target.hostname === endpoint.hostname && target.pathname.startsWith(`${base}/${storage.bucket}/`)) {
    encodedKey = target.pathname.slice(`${base}/${storage.bucket}/`.length);
  } else if (!storage.forcePathStyle && target.hostname === `${storage.bucket}.${endpoint.hostname}` && target.pathname.startsWith(`${base}/`)) {
    encodedKey = target.pathname.slice(`${base}/`.length);
  }
  if (!encodedKey) return null;
  let key: string;
  try {
    key = decodeURIComponent(encodedKey);
  } catch {
    return null;
  }
  return isPlainKey(key) ? key : null;
}
