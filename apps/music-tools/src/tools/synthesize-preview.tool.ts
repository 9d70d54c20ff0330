import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { makeWorkDirectory, mixAndMaster, renderInstrumental, writeArrangementMidi } from '@mcm/audio';
import type { StorageLocation } from '@mcm/core/storage/presigned-url';
import { DEFAULT_MAX_RENDER_SECONDS, PipelineError, renderTooLong, synthesizePreviewInput, synthesizePreviewOutput, validateBlueprint } from '@mcm/pipeline';
import { defaultRenderGate, type RenderGate } from '../render-gate';
import { describeErrors, failureResult, ToolFailure } from '../tool-failure';
import { errorMessage, StemTransfer } from '../stem-transfer';

/** The part of the audio engine this tool drives; tests may pass another. */
export interface PreviewEngine {
  renderInstrumental: typeof renderInstrumental;
  mixAndMaster: typeof mixAndMaster;
}

export interface SynthesizePreviewDeps {
  engine?: PreviewEngine;
  /** The storage whose presigned URLs stems come from and results go to; without it only inline previews work. */
  storage?: StorageLocation;
  transfer?: StemTransfer;
  log?: (line: string) => void;
  /** Blueprints longer than this are refused before any render work (`MAX_RENDER_SECONDS`). */
  maxRenderSeconds?: number;
  /** Shared by every call this process serves, so the cap holds across requests. */
  renderGate?: RenderGate;
}

/** Like Promise.all, but waits for every task so none still writes into the work directory when it is removed; a null is a task not needed. */
async function settleAll(tasks: Array<Promise<unknown> | null>): Promise<void> {
  const results = await Promise.allSettled(tasks.filter((task) => task !== null));
  const rejected = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (rejected) throw rejected.reason;
}

function toFailure(error: unknown): ToolFailure {
  if (error instanceof ToolFailure) return error;
  if (error instanceof PipelineError) return new ToolFailure(error.code, error.message, error.retryable);
  if (error instanceof Error && error.name === 'AbortError') return new ToolFailure('CANCELED', 'The request was canceled', true);
  return new ToolFailure('SYNTHESIS_FAILED', errorMessage(error), true);
}

export function registerSynthesizePreviewTool(server: McpServer, deps: SynthesizePreviewDeps = {}): void {
  const engine = deps.engine ?? { renderInstrumental, mixAndMaster };
  const log = deps.log ?? (() => undefined);
  const transfer = deps.transfer ?? new StemTransfer({ storage: deps.storage, log });
  const maxRenderSeconds = deps.maxRenderSeconds ?? DEFAULT_MAX_RENDER_SECONDS;
  const gate = deps.renderGate ?? defaultRenderGate();

  server.registerTool(
    'synthesize_preview',
    {
      title: 'Synthesize a preview',
      description:
        'Mixes and masters a blueprint into a preview MP3 (−14 LUFS, true peak ≤ −1 dBTP) and a WAV master. ' +
        "Stems come from presigned URLs of the service's storage (nothing else is fetched); a missing instrumental is rendered from the blueprint. " +
        'With `upload` the files are PUT to the given presigned URLs (optionally also arrangement.mid and waveform peaks JSON); otherwise the MP3 is returned as audio content. ' +
        "Blueprints longer than the server's render limit are refused (BLUEPRINT_TOO_LONG); when every render slot is taken the call is refused at once (MUSIC_TOOLS_BUSY, retryable).",
      inputSchema: synthesizePreviewInput,
      outputSchema: synthesizePreviewOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    },
    async ({ blueprint, stems, upload }, extra): Promise<CallToolResult> => {
      const validation = validateBlueprint(blueprint);
      if (!validation.ok) {
        return failureResult(new ToolFailure('INVALID_BLUEPRINT', `Blueprint is invalid:\n${describeErrors(validation.errors)}`, false, validation.errors));
      }
      const tooLong = renderTooLong(validation.blueprint, maxRenderSeconds);
      if (tooLong) return failureResult(new ToolFailure(tooLong.code, tooLong.message, false));
      const urls = [stems?.instrumental_url, stems?.vocals_url, upload?.preview_url, upload?.master_url, upload?.midi_url, upload?.peaks_url];
      try {
        // Every URL is judged before any work, so a refused one costs nothing and nothing is half-uploaded.
        for (const url of urls) if (url) transfer.assertAllowed(url);
      } catch (error) {
        return failureResult(toFailure(error));
      }
      const started = Date.now();
      const workdir = await makeWorkDirectory('preview');
      let release: (() => void) | undefined;
      try {
        release = await gate.acquire(extra.signal);
        const instrumentalUrl = stems?.instrumental_url;
        // Stems are the WAV files the pipeline writes, and the mix decodes them as WAV whatever the URL or the bytes suggest.
        const instrumental = path.join(workdir, 'instrumental.wav');
        const vocals = stems?.vocals_url ? path.join(workdir, 'vocals.wav') : null;
        await settleAll([
          instrumentalUrl ? transfer.download(instrumentalUrl, instrumental, extra.signal) : engine.renderInstrumental(validation.blueprint, instrumental, { signal: extra.signal }),
          stems?.vocals_url && vocals ? transfer.download(stems.vocals_url, vocals, extra.signal) : null,
        ]);
        const outPreviewMp3 = path.join(workdir, 'preview.mp3');
        const outMasterWav = path.join(workdir, 'master.wav');
        const outPeaksJson = upload?.peaks_url ? path.join(workdir, 'peaks.json') : undefined;
        const outMid = path.join(workdir, 'arrangement.mid');
        const [report] = await Promise.all([
          engine.mixAndMaster({ blueprint: validation.blueprint, instrumental, vocals, outPreviewMp3, outMasterWav, outPeaksJson, signal: extra.signal }),
          upload?.midi_url ? writeArrangementMidi(validation.blueprint, outMid) : null,
        ]);
        const { size: bytes } = await stat(outPreviewMp3);
        if (upload) {
          // All PUTs at once: storage takes them in parallel and the master dominates.
          await settleAll([
            transfer.upload(outPreviewMp3, upload.preview_url, 'audio/mpeg', extra.signal),
            transfer.upload(outMasterWav, upload.master_url, 'audio/wav', extra.signal),
            upload.midi_url ? transfer.upload(outMid, upload.midi_url, 'audio/midi', extra.signal) : null,
            upload.peaks_url && outPeaksJson ? transfer.upload(outPeaksJson, upload.peaks_url, 'application/json', extra.signal) : null,
          ]);
        }
        const structuredContent = {
          ok: true,
          duration_ms: Math.round(report.duration_ms),
          mime_type: 'audio/mpeg' as const,
          loudness_lufs: report.loudness_lufs,
          true_peak_dbtp: report.true_peak_dbtp,
          uploaded: Boolean(upload),
          bytes,
        };
        const summary =
          `Preview of "${validation.blueprint.id}": ${(report.duration_ms / 1000).toFixed(1)} s, ` +
          `${report.loudness_lufs.toFixed(1)} LUFS, true peak ${report.true_peak_dbtp.toFixed(1)} dBTP, ${bytes} bytes` +
          (upload ? `, ${['preview', 'master', upload.midi_url && 'MIDI', upload.peaks_url && 'peaks'].filter(Boolean).join(', ')} uploaded.` : '.');
        log(`synthesize_preview ${validation.blueprint.id} ok in ${Date.now() - started} ms (${upload ? 'uploaded' : 'inline'})`);
        if (upload) return { content: [{ type: 'text', text: summary }], structuredContent };
        const audio = await readFile(outPreviewMp3);
        return {
          content: [
            { type: 'text', text: summary },
            { type: 'audio', data: audio.toString('base64'), mimeType: 'audio/mpeg' },
          ],
          structuredContent,
        };
      } catch (error) {
        const failure = toFailure(error);
        log(`synthesize_preview ${validation.blueprint.id} failed: ${failure.code} ${failure.message}`);
        return failureResult(failure);
      } finally {
        await rm(workdir, { recursive: true, force: true }).finally(() => release?.());
      }
    },
  );
}
