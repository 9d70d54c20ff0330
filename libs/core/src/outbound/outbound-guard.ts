import dns from 'node:dns';
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

export const OUTBOUND_ALLOW_PRIVATE_WARNING =
  'OUTBOUND_ALLOW_PRIVATE=true: outbound requests may reach loopback, private, link-local and metadata addresses; use it only for tests and local development';

/** A destination outside the public internet. The message names no address, so a caller learns nothing by probing. */
export class OutboundRefusedError extends Error {
  readonly code = 'OUTBOUND_REFUSED';
  readonly retryable = false;

  constructor() {
    super('The outbound request was refused: its destination is not a public internet address');
    this.name = 'OutboundRefusedError';
  }
}

/** NAT64 (64:ff9b::/96) carries an IPv4 address, which is what the packet finally reaches. */
function embeddedNat64(address: ipaddr.IPv6): ipaddr.IPv4 | null {
  const [a, b, c, d, e, f, g, h] = address.parts;
  if (a !== 0x64 || b !== 0xff9b || c || d || e || f) return null;
  return new ipaddr.IPv4([g >> 8, g & 0xff, h >> 8, h & 0xff]);
}

/**
 * The ipaddr.js range name of an address that is not public unicast (loopback, private, linkLocal,
 * uniqueLocal, carrierGradeNat, unspecified, multicast, broadcast, reserved …), or null for a
 * public one. IPv4-mapped IPv6 is judged as the IPv4 address it maps; anything unparsable is refused.
 */
export function nonPublicRange(address: string): string | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.process(address.replace(/^\[(.*)\]$/, '$1'));
  } catch {
    return 'invalid';
  }
  const nat64 = parsed.kind() === 'ipv6' ? embeddedNat64(parsed as ipaddr.IPv6) : null;
  const range = (nat64 ?? parsed).range();
  return range === 'unicast' ? null : range;
}

/** True for `localhost` and any loopback address (127/8, ::1, ::ffff:127.x). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (bare.toLowerCase() === 'localhost') return true;
  return ipaddr.isValid(bare) && ipaddr.process(bare).range() === 'loopback';
}

/**
 * Resolves every address of the host and refuses the connection when any of them is not public.
 * Node connects to the address this returns, so a DNS answer that changes later (rebinding) is never used.
 */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '', 0);
    if (!addresses.length || addresses.some((entry) => nonPublicRange(entry.address))) return callback(new OutboundRefusedError(), '', 0);
    if (options.all) return callback(null, addresses);
    callback(null, addresses[0].address, addresses[0].family);
  });
};

export interface OutboundRequestInit {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer;
  signal?: AbortSignal;
  /** A larger answer is cut off with an error, so a hostile server cannot fill memory. */
  maxResponseBytes?: number;
}

export interface OutboundResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface OutboundGuardOptions {
  /** `OUTBOUND_ALLOW_PRIVATE`: lets requests reach non-public addresses (tests and local development only). */
  allowPrivate: boolean;
}

const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * The way out for every request to a host the service does not run (ElevenLabs, webhooks): only
 * public addresses, checked when the connection is made, and redirects are answers, never followed.
 */
export class OutboundGuard {
  readonly allowPrivate: boolean;

  constructor(options: OutboundGuardOptions) {
    this.allowPrivate = options.allowPrivate;
  }

  /**
   * Refuses (OutboundRefusedError) a URL that is not http(s), or whose host is or resolves now to
   * any non-public address: for checking a destination when it is given. A failed lookup rejects
   * with the DNS error. `request` checks again when it connects, since DNS answers change.
   */
  async checkDestination(url: string | URL): Promise<void> {
    const target = new URL(url);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new OutboundRefusedError();
    if (this.allowPrivate) return;
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
    const addresses = isIP(host) ? [host] : (await dns.promises.lookup(host, { all: true })).map((entry) => entry.address);
    if (!addresses.length || addresses.some((address) => nonPublicRange(address))) throw new OutboundRefusedError();
  }

  /** Rejects with OutboundRefusedError for a non-public destination; any HTTP status is an answer. */
  async request(url: string | URL, init: OutboundRequestInit = {}): Promise<OutboundResponse> {
    const target = new URL(url);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new OutboundRefusedError();
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
    // An address literal is connected to without a lookup, so it is judged here.
    if (!this.allowPrivate && isIP(host) && nonPublicRange(host)) throw new OutboundRefusedError();
    const client = target.protocol === 'https:' ? https : http;
    const limit = init.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const headers: OutgoingHttpHeaders = { ...init.headers };
    if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);

    return new Promise<OutboundResponse>((resolve, reject) => {
      const request = client.request(target, {
        method: init.method ?? 'GET',
        headers,
        signal: init.signal,
        // A private agent: no pooled socket opened by unguarded code is ever reused.
        agent: false,
        lookup: this.allowPrivate ? undefined : publicOnlyLookup,
      });
      request.on('error', reject);
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        let received = 0;
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > limit) return response.destroy(new Error(`the answer is larger than ${limit} bytes`));
          chunks.push(chunk);
        });
        response.on('error', reject);
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      });
      request.end(init.body);
    });
  }
}
