import { Inject, Injectable } from '@nestjs/common';
import { fileTypeFromFile } from 'file-type';
import { AudioError, probeAudio, uploadDemuxer, type AudioProbe } from '@mcm/audio';
import { APP_CONFIG, type ApiConfig } from '@mcm/core';
import { AppError } from '../problem/app-error';

/** How long a client told the engine is busy waits before trying again, in seconds: a check takes well under that. */
const BUSY_RETRY_AFTER_SECONDS = 2;

export interface SniffedType {
  ext: string;
  mime: string;
  /** The ffmpeg demuxer the upload is decoded with, here and in the worker. */
  demuxer: string;
}

/** Checks a received recording is audio, by content: its container first, then by decoding it. */
@Injectable()
export class UploadService {
  /** Uploads being decoded right now, at most MAX_CONCURRENT_PROBES. */
  private probing = 0;

  constructor(
    @Inject(APP_CONFIG)
    private readonly config: Pick<ApiConfig, 'MAX_AUDIO_SECONDS' | 'MIN_AUDIO_SECONDS' | 'MAX_CONCURRENT_PROBES' | 'PROBE_TIMEOUT_MS'>,
  ) {}

  /** Sniffs, then decodes: the recording's container once it is known to be usable audio. */
  async check(path: string, signal?: AbortSignal): Promise<SniffedType> {
    const type = await this.sniff(path);
    await this.probe(path, type, signal);
    return type;
  }

  /**
   * The container, read from the first bytes; anything that is not a container a phone or browser
   * records into is refused. The key's extension and the demuxer come from this sniff, never from the client.
   */
  async sniff(path: string): Promise<SniffedType> {
    const type = await fileTypeFromFile(path);
    const demuxer = type ? uploadDemuxer(type.ext) : null;
    if (!type || !demuxer) {
      throw new AppError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        type ? `The file is ${type.mime}, not audio. Send wav, mp3, m4a/aac, ogg/opus, webm or flac.` : 'The file is not a recognised audio format. Send wav, mp3, m4a/aac, ogg/opus, webm or flac.',
      );
    }
    return { ext: type.ext, mime: type.mime, demuxer };
  }

  /**
   * Decodes the upload as the container it was sniffed as, at most a second past MAX_AUDIO_SECONDS,
   * within PROBE_TIMEOUT_MS and only while the client waits: empty, undecodable, broken-off, too long
   * and too quiet or short recordings are refused here. At most MAX_CONCURRENT_PROBES run at once.
   */
  async probe(path: string, type: SniffedType, signal?: AbortSignal): Promise<AudioProbe> {
    if (this.probing >= this.config.MAX_CONCURRENT_PROBES) {
      return this.unavailable('AUDIO_ENGINE_BUSY', 'Too many recordings are being checked right now; try again in a moment.');
    }
    this.probing += 1;
    try {
      return await probeAudio(path, {
        format: type.demuxer,
        maxSeconds: this.config.MAX_AUDIO_SECONDS,
        minAudibleSeconds: this.config.MIN_AUDIO_SECONDS,
        timeoutMs: this.config.PROBE_TIMEOUT_MS,
        signal,
      });
    } catch (error) {
      if (!(error instanceof AudioError)) throw error;
      switch (error.code) {
        case 'AUDIO_TOO_LONG':
          return this.refuse(422, 'AUDIO_TOO_LONG', `The recording is too long: ${error.message}.`);
        case 'AUDIO_TOO_SHORT':
          return this.refuse(422, 'AUDIO_TOO_SHORT', `The recording is too short or too quiet to make a song from: ${error.message}.`);
        case 'AUDIO_EMPTY':
          return this.refuse(422, 'AUDIO_EMPTY', 'The file contains no audio.');
        case 'AUDIO_UNDECODABLE':
          return this.refuse(422, 'AUDIO_UNDECODABLE', 'The audio cannot be decoded; the file may be corrupt or truncated.');
        case 'AUDIO_TRUNCATED':
          return this.refuse(422, 'AUDIO_TRUNCATED', 'The audio breaks off: the decoder failed partway through, so the file is truncated or corrupt.');
        case 'AUDIO_ABORTED':
          return this.refuse(400, 'REQUEST_ABORTED', 'The client closed the request before it was answered.');
        case 'AUDIO_TIMEOUT':
          // The work per upload is bounded by size and length, so running out of time means the engine is starved, not that the file is bad.
          return this.unavailable('AUDIO_CHECK_TIMEOUT', 'The recording could not be checked in time; try again in a moment.');
        default:
          return this.unavailable('AUDIO_ENGINE_UNAVAILABLE', 'The audio could not be checked right now; try again.');
      }
    } finally {
      this.probing -= 1;
    }
  }

  private refuse(status: number, code: string, detail: string): never {
    throw new AppError(status, code, detail);
  }

  /** The engine could not take or finish the check: nothing is wrong with the upload, so the client may retry. */
  private unavailable(code: string, detail: string): never {
    throw new AppError(503, code, detail, { headers: { 'Retry-After': String(BUSY_RETRY_AFTER_SECONDS) } });
  }
}
