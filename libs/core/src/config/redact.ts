import type { AppConfig } from './app-config';

/** Shorter values are too likely to occur by chance to be worth masking. */
const MIN_SECRET_LENGTH = 4;
const MASK = '***';

/** `scheme://user:password@` or `scheme://token@`: the userinfo of any URL in the text. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@'"]+@/gi;
/** The query parameters that make a presigned URL work for whoever holds it. */
const PRESIGNED_PARAMS = /([?&](?:X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId)=)[^&\s"'#]+/gi;

function passwordOf(url: string | undefined): string[] {
  if (!url) return [];
  try {
    const { password } = new URL(url);
    return [password, decodeURIComponent(password)];
  } catch {
    return [];
  }
}

/** Every configured value that must never be logged or answered: tokens, keys and passwords. */
export function secretValues(config: Partial<AppConfig>): string[] {
  const values = [
    config.ADMIN_TOKEN,
    ...(config.API_KEYS ?? []),
    config.S3_SECRET_ACCESS_KEY,
    config.MCP_AUTH_TOKEN,
    config.ELEVENLABS_API_KEY,
    ...passwordOf(config.DATABASE_URL),
    ...passwordOf(config.REDIS_URL),
  ];
  const secrets = values.filter((value): value is string => typeof value === 'string' && value.length >= MIN_SECRET_LENGTH);
  // Longest first, so a secret containing another is masked whole.
  return [...new Set(secrets)].sort((a, b) => b.length - a.length);
}

/** Masks the credentials of URLs, the signatures of presigned URLs and every known secret value in a text bound for a log. */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let redacted = text.replace(URL_USERINFO, `$1${MASK}@`).replace(PRESIGNED_PARAMS, `$1${MASK}`);
  for (const secret of secrets) redacted = redacted.split(secret).join(MASK);
  return redacted;
}
