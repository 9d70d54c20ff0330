import type { CreateMomentFormDto } from '../dtos/create-moment.dto';

/** The `file` part of a create request, already streamed to a temporary file that its receiver removes. */
export interface ReceivedUpload {
  /** The temporary file holding the recording, or null when no `file` part came. */
  path: string | null;
  size: number;
  sha256: string;
  /** The client's file name, sanitised; metadata only, never a path. */
  filename: string | null;
}

/** Everything a create needs, with no HTTP left in it. */
export interface CreateMomentCommand {
  /** The client's key id, or null for anonymous clients. */
  owner: string | null;
  /** Well-formed or null: the key was checked before the body was read. */
  idempotencyKey: string | null;
  form: CreateMomentFormDto;
  upload: ReceivedUpload;
  /** Aborted when the client goes away: the audio check stops with it. */
  signal?: AbortSignal;
}
