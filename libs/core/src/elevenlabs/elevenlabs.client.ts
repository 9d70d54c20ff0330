import { PipelineError } from '@mcm/pipeline';
import { OutboundGuard, OutboundRefusedError } from '../outbound/outbound-guard';

export interface ElevenLabsClientOptions {
  /** Unset: the client is disabled and the local engines render everything. */
  apiKey?: string;
  baseUrl: string;
  /** Voice used when the blueprint names the local voice rather than an ElevenLabs one. */
  defaultVoiceId: string;
  /** Longest a text-to-speech request may take. */
  speechTimeoutMs?: number;
  /** Longest a music request may take; a minute of music takes ElevenLabs a while to compose. */
  musicTimeoutMs?: number;
  /** The way out; by default only public addresses are reached. */
  outbound?: OutboundGuard;
}

export interface VoiceSettings {
  stability: number;
  similarity_boost: number;
  style: number;
  use_speaker_boost: boolean;
}

export interface SpeechRequest {
  voiceId: string;
  text: string;
  modelId: string;
  voiceSettings: VoiceSettings;
  /** e.g. `mp3_44100_128`. */
  outputFormat?: string;
}

export interface CompositionPlanSection {
  section_name: string;
  positive_local_styles: string[];
  negative_local_styles: string[];
  duration_ms: number;
  lines: string[];
}

export interface CompositionPlan {
  positive_global_styles: string[];
  negative_global_styles: string[];
  sections: CompositionPlanSection[];
}

export interface MusicRequest {
  compositionPlan: CompositionPlan;
  modelId?: string;
  outputFormat?: string;
}

/** A failed ElevenLabs call: `retryable` says whether the stage may try again. Messages never carry the key. */
export class ElevenLabsError extends PipelineError {
  constructor(
    readonly code: 'ELEVENLABS_UNAUTHORIZED' | 'ELEVENLABS_RATE_LIMITED' | 'ELEVENLABS_UNAVAILABLE' | 'ELEVENLABS_TIMEOUT' | 'ELEVENLABS_REJECTED' | 'ELEVENLABS_DISABLED',
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ElevenLabsError';
  }
}

/** What the stages ask ElevenLabs for, and so the only ffmpeg demuxer its answers are read with. */
export const ELEVENLABS_OUTPUT = { format: 'mp3_44100_128', demuxer: 'mp3' } as const;
const DEFAULT_OUTPUT_FORMAT = ELEVENLABS_OUTPUT.format;

/**
 * The ElevenLabs HTTP API (text-to-speech and music), the only code that talks to it. Errors map to
 * codes the stages understand: bad credentials fail at once, throttling, outages and timeouts retry.
 */
export class ElevenLabsClient {
  readonly enabled: boolean;
  readonly defaultVoiceId: string;
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly speechTimeoutMs: number;
  private readonly musicTimeoutMs: number;
  private readonly outbound: OutboundGuard;

  constructor(options: ElevenLabsClientOptions) {
    this.apiKey = options.apiKey ?? '';
    this.enabled = this.apiKey.length > 0;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.defaultVoiceId = options.defaultVoiceId;
    this.speechTimeoutMs = options.speechTimeoutMs ?? 60_000;
    this.musicTimeoutMs = options.musicTimeoutMs ?? 300_000;
    this.outbound = options.outbound ?? new OutboundGuard({ allowPrivate: false });
  }

  /** `POST /v1/text-to-speech/{voice_id}`: the text spoken by the voice, as audio bytes in the requested format. */
  textToSpeech(request: SpeechRequest, signal?: AbortSignal): Promise<Buffer> {
    const path = `/v1/text-to-speech/${encodeURIComponent(request.voiceId)}`;
    const body = { text: request.text, model_id: request.modelId, voice_settings: request.voiceSettings };
    return this.postForAudio(path, request.outputFormat, body, this.speechTimeoutMs, signal);
  }

  /** `POST /v1/music` with a composition plan: a whole track, section by section, as audio bytes. */
  composeMusic(request: MusicRequest, signal?: AbortSignal): Promise<Buffer> {
    const body = { composition_plan: request.compositionPlan, model_id: request.modelId ?? 'music_v1', respect_sections_durations: true };
    return this.postForAudio('/v1/music', request.outputFormat, body, this.musicTimeoutMs, signal);
  }

  private async postForAudio(path: string, outputFormat: string | undefined, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
    if (!this.enabled) throw new ElevenLabsError('ELEVENLABS_DISABLED', 'ElevenLabs is not configured (ELEVENLABS_API_KEY is unset)', false);
    const url = new URL(`${this.baseUrl}${path}`);
    url.searchParams.set('output_format', outputFormat ?? DEFAULT_OUTPUT_FORMAT);
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let audio: Buffer;
    try {
      const response = await this.outbound.request(url, {
        method: 'POST',
        headers: { 'xi-api-key': this.apiKey, 'content-type': 'application/json', accept: 'audio/mpeg' },
        body: JSON.stringify(body),
        signal: combined,
      });
      if (response.status < 200 || response.status >= 300) throw this.statusError(path, response.status, response.body.toString('utf8'));
      audio = response.body;
    } catch (error) {
      if (error instanceof ElevenLabsError || error instanceof OutboundRefusedError) throw error;
      if (timeout.aborted) throw new ElevenLabsError('ELEVENLABS_TIMEOUT', `ElevenLabs did not answer ${path} within ${timeoutMs} ms`, true);
      throw new ElevenLabsError('ELEVENLABS_UNAVAILABLE', `ElevenLabs could not be reached for ${path}: ${this.redact(errorText(error))}`, true);
    }
    if (audio.length === 0) throw new ElevenLabsError('ELEVENLABS_UNAVAILABLE', `ElevenLabs answered ${path} with no audio`, true);
    return audio;
  }

  private statusError(path: string, status: number, text: string): ElevenLabsError {
    const detail = this.redact(apiMessage(text));
    const said = detail ? `: ${detail}` : '';
    if (status === 401 || status === 403) return new ElevenLabsError('ELEVENLABS_UNAUTHORIZED', `ElevenLabs refused the API key (HTTP ${status})${said}`, false, status);
    if (status === 429) return new ElevenLabsError('ELEVENLABS_RATE_LIMITED', `ElevenLabs is throttling requests (HTTP 429)${said}`, true, status);
    if (status >= 500 || status === 408) return new ElevenLabsError('ELEVENLABS_UNAVAILABLE', `ElevenLabs failed on ${path} (HTTP ${status})${said}`, true, status);
    return new ElevenLabsError('ELEVENLABS_REJECTED', `ElevenLabs rejected ${path} (HTTP ${status})${said}`, false, status);
  }

  /** The key must never reach logs or the moment's error, even if an upstream echoes it. */
  private redact(text: string): string {
    return this.apiKey ? text.split(this.apiKey).join('[redacted]') : text;
  }
}

/** ElevenLabs puts its reason in `detail`: a string, `{status, message}`, or a list of validation errors. */
function apiMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { detail?: unknown; message?: unknown };
    const detail = parsed.detail ?? parsed.message;
    if (typeof detail === 'string') return detail.slice(0, 500);
    if (Array.isArray(detail))
      return detail
        .map((item: { msg?: string; loc?: unknown[] }) => `${(item.loc ?? []).join('.')}: ${item.msg ?? ''}`)
        .join('; ')
        .slice(0, 500);
    if (detail && typeof detail === 'object' && typeof (detail as { message?: unknown }).message === 'string') return (detail as { message: string }).message.slice(0, 500);
  } catch {
    // Not JSON: a proxy's page or plain text.
  }
  return text.trim().slice(0, 200);
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
  return String(error);
}
