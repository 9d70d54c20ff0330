import { MusicToolsError, type BlueprintCheck, type MusicToolsClient, type PreviewReport, type SynthesizePreviewArgs } from '@mcm/core';
import { validateBlueprint } from '@mcm/pipeline';
import type { Port } from './port';

/** music-tools answering from the blueprint schema, or failing with `failure` when one is set. */
export class FakeMusicTools implements Port<MusicToolsClient> {
  readonly calls: Array<{ tool: string; args: unknown }> = [];
  failure: MusicToolsError | null = null;

  static unavailable(): MusicToolsError {
    return new MusicToolsError('MCP_UNAVAILABLE', 'music-tools at http://127.0.0.1:1 is unavailable: fetch failed', true);
  }

  async validateBlueprint(blueprint: unknown): Promise<BlueprintCheck> {
    this.calls.push({ tool: 'validate_blueprint', args: blueprint });
    if (this.failure) throw this.failure;
    const result = validateBlueprint(blueprint);
    return result.ok ? { ok: true, errors: [] } : { ok: false, errors: result.errors };
  }

  async synthesizePreview(args: SynthesizePreviewArgs): Promise<PreviewReport> {
    this.calls.push({ tool: 'synthesize_preview', args });
    if (this.failure) throw this.failure;
    return { duration_ms: 30_000, loudness_lufs: -14, true_peak_dbtp: -1, bytes: 1024 };
  }

  async health(): Promise<boolean> {
    return !this.failure;
  }

  async close(): Promise<void> {}
}
