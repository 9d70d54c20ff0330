import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CreateMomentCommand } from '../../apps/api/src/services/create-moment.command';
import type { SniffedType } from '../../apps/api/src/services/upload.service';

/** A create request as the api would have received it: form fields, the file's bytes and the Idempotency-Key. */
export interface FakeRequestBody {
  fields?: Record<string, string>;
  file?: string | null;
  filename?: string;
  idempotencyKey?: string;
}

/**
 * Builds create commands as the controller hands them over, with the file written to a temporary
 * directory; the audio check accepts every file as m4a unless told to refuse.
 */
export class FakeUploads {
  /** Recordings handed over to the audio check. */
  checked = 0;
  /** Thrown by the next checks instead of accepting the recording. */
  refusal: Error | null = null;
  private readonly directories: string[] = [];

  async command(body: FakeRequestBody, owner: string | null): Promise<CreateMomentCommand> {
    const { fields = {}, file = 'hummed bytes', filename = 'hum.m4a', idempotencyKey = null } = body;
    const directory = await mkdtemp(join(tmpdir(), 'mcm-fake-upload-'));
    this.directories.push(directory);
    const path = file === null ? null : join(directory, 'upload');
    if (path) await writeFile(path, file!);
    const upload = {
      path,
      size: file?.length ?? 0,
      sha256: createHash('sha256')
        .update(file ?? '')
        .digest('hex'),
      filename,
    };
    return { owner, idempotencyKey, form: fields, upload };
  }

  async check(): Promise<SniffedType> {
    this.checked += 1;
    if (this.refusal) throw this.refusal;
    return { ext: 'm4a', mime: 'audio/mp4', demuxer: 'mov' };
  }

  /** Removes every temporary file the commands wrote. */
  async cleanup(): Promise<void> {
    await Promise.all(this.directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
  }
}
