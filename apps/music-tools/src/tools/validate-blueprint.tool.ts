import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { blueprintDurationSeconds, validateBlueprint, validateBlueprintInput, validateBlueprintOutput } from '@mcm/pipeline';
import { describeErrors } from '../tool-failure';

export function registerValidateBlueprintTool(server: McpServer): void {
  server.registerTool(
    'validate_blueprint',
    {
      title: 'Validate a blueprint',
      description:
        'Checks a blueprint against the blueprint JSON Schema (resource blueprint://schema). ' +
        'Answers {ok, errors[]}; each error names the JSON path of the offending value. An invalid blueprint is a tool error.',
      inputSchema: validateBlueprintInput,
      outputSchema: validateBlueprintOutput,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ blueprint }) => {
      const result = validateBlueprint(blueprint);
      if (!result.ok) {
        const count = result.errors.length;
        return {
          isError: true,
          content: [{ type: 'text', text: `Blueprint is invalid (${count} error${count === 1 ? '' : 's'}):\n${describeErrors(result.errors)}` }],
          structuredContent: { ok: false, errors: result.errors },
        };
      }
      const { blueprint: valid } = result;
      const bars = valid.sections.reduce((sum, section) => sum + section.bars, 0);
      const seconds = blueprintDurationSeconds(valid).toFixed(1);
      return {
        content: [
          {
            type: 'text',
            text: `Blueprint "${valid.id}" is valid: ${valid.style}, ${bars} bars of ${valid.time_signature} at ${valid.tempo_bpm} bpm in ${valid.key}, ${seconds} s.`,
          },
        ],
        structuredContent: { ok: true, errors: [] },
      };
    },
  );
}
