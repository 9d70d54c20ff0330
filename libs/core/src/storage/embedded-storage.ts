import { mkdirSync } from 'node:fs';
import S3rver from 's3rver';

export interface EmbeddedStorage {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

/** An S3-compatible server for local runs and tests, used when no `S3_ENDPOINT` is configured. */
export async function startEmbeddedStorage(options: { port: number; directory: string }): Promise<EmbeddedStorage> {
  mkdirSync(options.directory, { recursive: true });
  const server = new S3rver({ port: options.port, address: '127.0.0.1', directory: options.directory, silent: true });
  const { port } = (await server.run()) as { port: number };
  return { endpoint: `http://127.0.0.1:${port}`, port, close: () => server.close() };
}
