import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import S3rver from 's3rver';
import S3rverAccount from 's3rver/lib/models/account';
import { RequestSignatureVerifier, storageErrorXml, type StorageCredentials, type StorageRefusal } from './request-signature';

export interface EmbeddedStorage {
  endpoint: string;
  port: number;
  /** The listening server, for observers such as tests counting what reached storage. */
  server: Server;
  close(): Promise<void>;
}

export interface EmbeddedStorageOptions extends StorageCredentials {
  port: number;
  directory: string;
}

function refuse(response: ServerResponse, refusal: StorageRefusal): void {
  const body = storageErrorXml(refusal);
  // The body of a refused upload is never read, so the connection cannot be reused.
  response.writeHead(refusal.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), connection: 'close' });
  response.end(body);
}

/**
 * An S3-compatible server for local runs and tests, used when no `S3_ENDPOINT` is configured.
 * s3rver keeps the objects but does not check SigV4 signatures, so every request is verified
 * first, as S3 would, against the one key pair given here; only then does s3rver serve it.
 */
export async function startEmbeddedStorage(options: EmbeddedStorageOptions): Promise<EmbeddedStorage> {
  mkdirSync(options.directory, { recursive: true });
  const verifier = new RequestSignatureVerifier({ accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey });
  // s3rver still looks the key id up in its own registry before serving a verified request.
  S3rverAccount.DUMMY_ACCOUNT.createKeyPair(options.accessKeyId, options.secretAccessKey);
  const serve = new S3rver({ directory: options.directory, silent: true }).callback();

  const admit = async (request: IncomingMessage, response: ServerResponse, expectsContinue: boolean) => {
    // A CORS preflight carries no credentials, in S3 too; s3rver answers it from the bucket's CORS rules.
    const refusal = request.method === 'OPTIONS' ? null : await verifier.verify({ method: request.method ?? '', url: request.url ?? '/', headers: request.headers });
    if (refusal) return refuse(response, refusal);
    // A signed read is its own credential: any page may fetch it (the page's waveform and downloads), as a bucket CORS rule allowing GET would.
    if ((request.method === 'GET' || request.method === 'HEAD') && request.headers.origin) response.setHeader('Access-Control-Allow-Origin', '*');
    if (expectsContinue) response.writeContinue();
    serve(request, response);
  };
  const server = createServer((request, response) => void admit(request, response, false));
  // An upload that asks before sending its body is refused before the body is sent.
  server.on('checkContinue', (request, response) => void admit(request, response, true));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    server,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
