import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { BLUEPRINT_SCHEMA } from '@mcm/pipeline';
import { registerBlueprintDurationTool } from './tools/blueprint-duration.tool';
import { registerSynthesizePreviewTool, type SynthesizePreviewDeps } from './tools/synthesize-preview.tool';
import { registerValidateBlueprintTool } from './tools/validate-blueprint.tool';

export const MUSIC_TOOLS_NAME = 'music-tools';
export const MUSIC_TOOLS_VERSION = '0.1.0';
export const BLUEPRINT_SCHEMA_URI = 'blueprint://schema';

export type MusicToolsServerOptions = SynthesizePreviewDeps;

/** One MCP server with every tool and resource; each transport (stdio, or one HTTP request) gets its own. */
export function createMusicToolsServer(options: MusicToolsServerOptions = {}): McpServer {
  const server = new McpServer(
    { name: MUSIC_TOOLS_NAME, title: 'Main Character Moment music tools', version: MUSIC_TOOLS_VERSION },
    {
      instructions:
        'Tools for theme-song blueprints. Read blueprint://schema for the blueprint format, check drafts with ' +
        'validate_blueprint, and render audio with synthesize_preview.',
    },
  );

  server.registerResource(
    'blueprint-schema',
    BLUEPRINT_SCHEMA_URI,
    {
      title: 'Blueprint JSON Schema',
      description: 'JSON Schema (2020-12) every blueprint must satisfy; unknown properties are refused at every level.',
      mimeType: 'application/schema+json',
    },
    (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'application/schema+json', text: JSON.stringify(BLUEPRINT_SCHEMA, null, 2) }],
    }),
  );

  registerValidateBlueprintTool(server);
  registerBlueprintDurationTool(server);
  registerSynthesizePreviewTool(server, options);
  return server;
}
