import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { blueprintDurationInput, blueprintDurationOutput, blueprintDurationSeconds, parseTimeSignature, validateBlueprint } from '@mcm/pipeline';
import { ToolFailure, describeErrors, failureResult } from '../tool-failure';

export function registerBlueprintDurationTool(server: McpServer): void {
  server.registerTool(
    'blueprint_duration',
    {
      title: 'Blueprint duration',
      description: 'How long a blueprint plays, in seconds: total bars × beats per bar at its tempo. Rendered previews match this length.',
      inputSchema: blueprintDurationInput,
      outputSchema: blueprintDurationOutput,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ blueprint }) => {
      const result = validateBlueprint(blueprint);
      if (!result.ok) {
        return failureResult(new ToolFailure('INVALID_BLUEPRINT', `Blueprint is invalid:\n${describeErrors(result.errors)}`, false, result.errors));
      }
      const { blueprint: valid } = result;
      const seconds = Math.round(blueprintDurationSeconds(valid) * 1000) / 1000;
      const bars = valid.sections.reduce((sum, section) => sum + section.bars, 0);
      const { beatsPerBar } = parseTimeSignature(valid.time_signature);
      return {
        content: [{ type: 'text', text: `${seconds} s (${bars} bars of ${valid.time_signature} at ${valid.tempo_bpm} bpm)` }],
        structuredContent: { ok: true, seconds, bars, beats_per_bar: beatsPerBar, tempo_bpm: valid.tempo_bpm },
      };
    },
  );
}
