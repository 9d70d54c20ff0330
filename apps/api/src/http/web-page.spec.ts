import { describe, expect, it } from 'vitest';
import { renderIndex, storageOrigins } from './web-page';

describe('storageOrigins', () => {
  it('is the endpoint for path-style storage', () => {
    expect(storageOrigins({ S3_ENDPOINT: 'http://127.0.0.1:4569', S3_BUCKET: 'main-character', S3_FORCE_PATH_STYLE: undefined, embeddedStorage: true })).toEqual(['http://127.0.0.1:4569']);
    expect(storageOrigins({ S3_ENDPOINT: 'https://storage.example.com/s3', S3_BUCKET: 'mcm', S3_FORCE_PATH_STYLE: 'true', embeddedStorage: false })).toEqual(['https://storage.example.com']);
  });

  it('adds the bucket host where storage may answer virtual-hosted', () => {
    expect(storageOrigins({ S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com', S3_BUCKET: 'mcm-moments', S3_FORCE_PATH_STYLE: undefined, embeddedStorage: false })).toEqual([
      'https://s3.eu-west-1.amazonaws.com',
      'https://mcm-moments.s3.eu-west-1.amazonaws.com',
    ]);
  });
});

describe('renderIndex', () => {
  it('writes the settings into the meta tag as an escaped attribute', () => {
    const html = renderIndex('<head><meta name="mcm-config" content="{}" /></head>', { max_upload_mb: 25, max_audio_seconds: 60, api_keys_required: false });
    expect(html).toBe('<head><meta name="mcm-config" content="{&quot;max_upload_mb&quot;:25,&quot;max_audio_seconds&quot;:60,&quot;api_keys_required&quot;:false}" /></head>');
  });
});
