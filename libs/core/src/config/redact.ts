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

type SecretSettings = Partial<
  Pick<AppConfig, 'ADMIN_TOKEN' | 'API_KEYS' | 'S3_SECRET_ACCESS_KEY' | 'MCP_AUTH_TOKEN' | 'METRICS_TOKEN' | 'ELEVENLABS_API_KEY' | 'MCM_API_KEY' | 'DATABASE_URL' | 'REDIS_URL'>
>;

function secretsOf(settings: SecretSettings): (string | undefined)[] {
  return [
    settings.ADMIN_TOKEN,
    ...(settings.API_KEYS ?? []),
    settings.S3_SECRET_ACCESS_KEY,
    settings.MCP_AUTH_TOKEN,
    settings.METRICS_TOKEN,
    settings.ELEVENLABS_API_KEY,
    settings.MCM_API_KEY,
    ...passwordOf(settings.DATABASE_URL),
    ...passwordOf(settings.REDIS_URL),
  ];
}

/**
 * Every value that must never be logged or answered: tokens, keys and passwords of the app's
 * configuration, and those of `env` as they stand, unvalidated, so an app also masks the secrets
 * of settings only the other apps read.
 */
export function secretValues(config: Partial<AppConfig>, env: NodeJS.ProcessEnv = {}): string[] {
  const fromEnv = secretsOf({
    ...env,
    API_KEYS: env.API_KEYS?.split(',').map((key) => key.trim()),
    S3_SECRET_ACCESS_KEY: env.S3_SECRET_ACCESS_KEY || env.DO_SPACES_SECRET,
  });
  const secrets = [...secretsOf(config), ...fromEnv].filter((value): value is string => typeof value === 'string' && value.length >= MIN_SECRET_LENGTH);
  // Longest first, so a secret containing another is masked whole.
  return [...new Set(secrets)].sort((a, b) => b.length - a.length);
}

/** Masks the credentials of URLs, the signatures of presigned URLs and every known secret value in a text bound for a log. */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let redacted = text.replace(URL_USERINFO, `$1${MASK}@`).replace(PRESIGNED_PARAMS, `$1${MASK}`);
  for (const secret of secrets) redacted = redacted.split(secret).join(MASK);
  return redacted;
}
