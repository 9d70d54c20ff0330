import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { STYLE_NAMES, STYLE_TEMPO, type StyleName } from '@mcm/audio';
import { STYLE_SOUNDS } from '@mcm/audio/score/styles';
import { listStylesOutput, STYLE_MOODS } from '@mcm/pipeline';

/** Anything unrecognised becomes cinematic; agents are told so. */
const STYLE_NOTES: Partial<Record<StyleName, string>> = { cinematic: '; the default for anything unrecognised' };

function describeStyle(name: StyleName): string {
  const sound = STYLE_SOUNDS[name];
  const instruments = [...new Set(sound.parts.map((part) => part.name.toLowerCase()))].join(', ');
  return `${STYLE_MOODS[name]}${STYLE_NOTES[name] ?? ''}: ${instruments}; the hummed tune on ${sound.lead.name.replace(/\s*\(.*\)$/, '').toLowerCase()}.`;
}

export function registerListStylesTool(server: McpServer): void {
  server.registerTool(
    'list_styles',
    {
      title: 'List styles',
      description: 'The musical styles a moment can take, for create_moment\'s style. Other words ("epic orchestra", "80s", "chill") map to the nearest of these.',
      outputSchema: listStylesOutput,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    () => {
      const styles = STYLE_NAMES.map((name) => ({ name, description: describeStyle(name), tempo_bpm: STYLE_TEMPO[name] }));
      return {
        content: [{ type: 'text', text: styles.map((style) => `${style.name} (${style.tempo_bpm} bpm): ${style.description}`).join('\n') }],
        structuredContent: { styles },
      };
    },
  );
}
