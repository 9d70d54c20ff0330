import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startApp, unusedPort } from '../../scripts/stack';

describe('the stack launcher', () => {
  it('hands out ports under the kernel’s ephemeral range, where no outgoing connection can take them, and free to bind', async () => {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const ports = await Promise.all(Array.from({ length: 5 }, () => unusedPort('127.0.0.1')));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(low);
      const server = createServer();
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('names why an app stopped before it was ready, from what the app said last', async () => {
    const error = await startApp('api', 'api', { ...process.env, DATABASE_URL: 'not a url' }, () => undefined).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^api exited before it was ready \(code 1, signal null\); its last lines:\n.*Invalid configuration: DATABASE_URL Invalid URL/s);
  });
});
