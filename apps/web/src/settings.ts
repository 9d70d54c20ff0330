/** The deployment's limits, rendered by the api into index.html's `mcm-config` meta tag. */
export interface PageSettings {
  maxUploadMb: number;
  maxAudioSeconds: number;
  apiKeysRequired: boolean;
}

const DEFAULTS: PageSettings = { maxUploadMb: 25, maxAudioSeconds: 60, apiKeysRequired: false };

export function readSettings(doc: Document = document): PageSettings {
  const content = doc.querySelector('meta[name="mcm-config"]')?.getAttribute('content') ?? '{}';
  try {
    const raw = JSON.parse(content) as Record<string, unknown>;
    const number = (value: unknown, fallback: number) => (typeof value === 'number' && value > 0 ? value : fallback);
    return {
      maxUploadMb: number(raw.max_upload_mb, DEFAULTS.maxUploadMb),
      maxAudioSeconds: number(raw.max_audio_seconds, DEFAULTS.maxAudioSeconds),
      apiKeysRequired: raw.api_keys_required === true,
    };
  } catch {
    return DEFAULTS;
  }
}
