import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import IORedis from 'ioredis';

/**
 * A Redis server of the test's own, so a test may empty it, stop it and start it again without
 * touching anything else on the machine. It keeps nothing on disk, as in production here.
 */
export class RedisServer {
  private child: ChildProcess | null = null;

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('Ready to accept connections')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}`)));
    });
    await ready;
  }

  async flushAll(): Promise<void> {
    const client = new IORedis(this.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    await client.connect();
    await client.flushall();
    client.disconnect();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}
