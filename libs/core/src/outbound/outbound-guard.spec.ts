import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LookupAddress } from 'node:dns';
import { isLoopbackHost, nonPublicRange, OutboundGuard, OutboundRefusedError, publicOnlyLookup } from './outbound-guard';

/** The host a URL reaches, as WHATWG URL normalises it (decimal, octal and hex IPv4 forms included). */
const hostOf = (url: string) => new URL(url).hostname;

describe('nonPublicRange', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.254', 'private'],
    ['192.168.1.1', 'private'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:192.168.0.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['169.254.0.1', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['fe80::1%eth0', 'linkLocal'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['fd00:ec2::254', 'uniqueLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.254', 'carrierGradeNat'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['64:ff9b::a9fe:a9fe', 'linkLocal'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['2002:7f00:1::1', '6to4'],
    ['not-an-address', 'invalid'],
  ])('refuses %s (%s)', (address, range) => {
    expect(nonPublicRange(address)).toBe(range);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])('lets the public address %s through', (address) => {
    expect(nonPublicRange(address)).toBeNull();
  });

  it.each([
    ['http://2130706433/', 'loopback'],
    ['http://0177.0.0.1/', 'loopback'],
    ['http://0x7f.1/', 'loopback'],
    ['http://127.1/', 'loopback'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://0/', 'unspecified'],
    ['http://[::]/', 'unspecified'],
    ['http://[::1]/', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://[::ffff:a9fe:a9fe]/', 'linkLocal'],
    ['http://[fd00:ec2::254]/latest/meta-data/', 'uniqueLocal'],
    ['http://169.254.169.254/latest/meta-data/', 'linkLocal'],
    ['http://0251.0376.0251.0376/', 'linkLocal'],
    ['http://2852039166/', 'linkLocal'],
  ])('judges %s as the address URL parsing makes of it (%s)', (url, range) => {
    expect(nonPublicRange(hostOf(url))).toBe(range);
  });
});

describe('isLoopbackHost', () => {
  it.each(['127.0.0.1', 'localhost', 'LOCALHOST', '::1', '[::1]', '::ffff:127.0.0.1', '127.0.0.2'])('%s is loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each(['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'example.com', 'localhost.example.com'])('%s is not', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });
});

describe('publicOnlyLookup, the resolver each guarded connection uses', () => {
  const lookup = (host: string, all: boolean) =>
    new Promise<{ error: Error | null; address: string | LookupAddress[]; family?: number }>((resolve) => {
      publicOnlyLookup(host, { all }, (error, address, family) => resolve({ error, address, family }));
    });

  it('answers a public address in the form node:net asks for', async () => {
    expect(await lookup('1.1.1.1', true)).toEqual({ error: null, address: [{ address: '1.1.1.1', family: 4 }], family: undefined });
    expect(await lookup('2606:4700:4700::1111', false)).toEqual({ error: null, address: '2606:4700:4700::1111', family: 6 });
  });

  it('refuses a host with any non-public address', async () => {
    for (const all of [true, false]) {
      expect((await lookup('localhost', all)).error).toBeInstanceOf(OutboundRefusedError);
      expect((await lookup('169.254.169.254', all)).error).toBeInstanceOf(OutboundRefusedError);
    }
  });
});

describe('OutboundGuard against a real server on 127.0.0.1', () => {
  let server: Server;
  let port: number;
  const requests: string[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests.push(`${request.method} ${request.url}`);
      if (request.url === '/redirect') return void response.writeHead(302, { location: `http://127.0.0.1:${port}/target` }).end();
      response.writeHead(200, { 'content-type': 'text/plain' }).end('inside');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('refuses loopback, whether named by address, by another spelling or by a host name resolved at connection time', async () => {
    const guard = new OutboundGuard({ allowPrivate: false });
    const before = requests.length;
    const errors: unknown[] = [];
    for (const url of [`http://127.0.0.1:${port}/`, `http://2130706433:${port}/`, `http://0177.0.0.1:${port}/`, `http://[::ffff:127.0.0.1]:${port}/`, `http://localhost:${port}/`]) {
      errors.push(await guard.request(url).catch((caught: unknown) => caught));
    }
    for (const error of errors) {
      expect(error).toBeInstanceOf(OutboundRefusedError);
      expect(error).toMatchObject({ code: 'OUTBOUND_REFUSED', retryable: false });
      expect((error as Error).message).not.toMatch(/127|localhost|::|\d{4,}/);
    }
    expect(requests.length).toBe(before);
  });

  it('refuses schemes other than http and https', async () => {
    const guard = new OutboundGuard({ allowPrivate: true });
    await expect(guard.request('file:///etc/passwd')).rejects.toBeInstanceOf(OutboundRefusedError);
  });

  it('reaches it with OUTBOUND_ALLOW_PRIVATE, and answers a redirect without following it', async () => {
    const guard = new OutboundGuard({ allowPrivate: true });
    const ok = await guard.request(`http://localhost:${port}/hello`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(ok.status).toBe(200);
    expect(ok.body.toString()).toBe('inside');
    const before = requests.length;
    const redirect = await guard.request(`http://127.0.0.1:${port}/redirect`);
    expect(redirect.status).toBe(302);
    expect(requests.slice(before)).toEqual(['GET /redirect']);
  });

  it('cuts off an answer larger than the limit', async () => {
    const guard = new OutboundGuard({ allowPrivate: true });
    await expect(guard.request(`http://127.0.0.1:${port}/`, { maxResponseBytes: 3 })).rejects.toThrow(/larger than 3 bytes/);
  });
});

describe('OutboundGuard.checkDestination', () => {
  const guard = new OutboundGuard({ allowPrivate: false });

  it('refuses schemes other than http(s), and hosts that are or resolve to non-public addresses', async () => {
    for (const url of [
      'ftp://example.com/x',
      'file:///etc/passwd',
      'http://127.0.0.1/x',
      'https://[::1]/x',
      'http://169.254.169.254/latest',
      'https://10.0.0.5/x',
      'http://localhost:3000/x',
      'http://0x7f000001/',
    ])
      await expect(guard.checkDestination(url), url).rejects.toBeInstanceOf(OutboundRefusedError);
  });

  it('passes a public address, and anything http(s) when private destinations are allowed', async () => {
    await expect(guard.checkDestination('https://93.184.216.34/hooks')).resolves.toBeUndefined();
    await expect(new OutboundGuard({ allowPrivate: true }).checkDestination('http://127.0.0.1:9/x')).resolves.toBeUndefined();
    await expect(new OutboundGuard({ allowPrivate: true }).checkDestination('gopher://127.0.0.1/')).rejects.toBeInstanceOf(OutboundRefusedError);
  });
});
