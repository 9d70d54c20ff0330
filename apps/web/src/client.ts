import { MomentsClient } from '@main-character/sdk';

const KEY_STORAGE = 'mcm-api-key';

export function storedApiKey(): string {
  try {
    return localStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

export function storeApiKey(key: string): void {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // Private modes may refuse storage; the key still serves this visit.
  }
}

/** The SDK client of this page: same origin, the person's key when the deployment needs one. */
export function momentsClient(apiKey: string, fetchImpl?: typeof fetch): MomentsClient {
  return new MomentsClient({ baseUrl: location.origin, apiKey: apiKey || undefined, fetch: fetchImpl });
}

/**
 * A fetch for the SDK's create call that reports how much of the body has been sent: fetch has no
 * upload progress in browsers, XMLHttpRequest has. The SDK builds the request; this only sends it.
 */
export function uploadingFetch(onProgress: (share: number) => void): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const body = request.method === 'GET' || request.method === 'HEAD' ? null : await request.blob();
    return new Promise<Response>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(request.method, request.url);
      xhr.responseType = 'blob';
      request.headers.forEach((value, name) => xhr.setRequestHeader(name, value));
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
      };
      xhr.onload = () => {
        const headers = new Headers();
        for (const line of xhr
          .getAllResponseHeaders()
          .trim()
          .split(/[\r\n]+/)) {
          const colon = line.indexOf(':');
          if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
        }
        resolve(new Response(xhr.status === 204 ? null : (xhr.response as Blob), { status: xhr.status, statusText: xhr.statusText, headers }));
      };
      // As fetch does: a network failure is a TypeError, an abort the signal's reason.
      xhr.onerror = () => reject(new TypeError('Network request failed'));
      xhr.ontimeout = () => reject(new TypeError('Network request timed out'));
      const signal = request.signal;
      if (signal.aborted) return reject(signal.reason as Error);
      signal.addEventListener('abort', () => {
        xhr.abort();
        reject(signal.reason as Error);
      });
      xhr.send(body);
    });
  };
}
