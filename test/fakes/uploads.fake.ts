import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { AudioProbe } from '@mcm/audio';

/** An upload as the api would have received it: form fields and the file's bytes. */
export interface FakeRequestBody {
  fields?: Record<string, string>;
  file?: string | null;
  filename?: string;
  idempotencyKey?: string;
}

/** Receives uploads described by the request object itself, writing the file to a temporary directory; sniff and probe accept every file as m4a. */
export class FakeUploads {
  received = 0;
  cleanedUp = 0;

  static request(body: FakeRequestBody): IncomingMessage {
    const headers = body.idempotencyKey === undefined ? {} : { 'idempotency-key': body.idempotencyKey };
    return { headers, body } as unknown as IncomingMessage;
  }

  async receive(request: IncomingMessage) {
    const { fields = {}, file = 'hummed bytes', filename = 'hum.m4a' } = (request as unknown as { body: FakeRequestBody }).body;
    this.received += 1;
    const directory = await mkdtemp(join(tmpdir(), 'mcm-fake-upload-'));
    const path = file === null ? null : join(directory, 'upload');
    if (path) await writeFile(path, file!);
    return {
      path,
      size: file?.length ?? 0,
      sha256: createHash('sha256').update(file ?? '').digest('hex'),
      filename,
      fields,
      cleanup: async () => {
        this.cleanedUp += 1;
        await rm(directory, { recursive: true, force: true });
      },
    };
  }

  async sniff() {
    return { ext: 'm4a', mime: 'audio/mp4', demuxer: 'mov' };
  }

  async probe(): Promise<AudioProbe> {
    return { duration_s: 5 } as AudioProbe;
  }
}
