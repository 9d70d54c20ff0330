import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { BLUEPRINT_SCHEMA } from '@mcm/pipeline';
import type { MomentsApi } from './moments-api';
import { registerBlueprintDurationTool } from './tools/blueprint-duration.tool';
import { registerCreateMomentTool } from './tools/create-moment.tool';
import { registerGetMomentTool } from './tools/get-moment.tool';
import { registerListStylesTool } from './tools/list-styles.tool';
import { registerWaitForMomentTool } from './tools/wait-for-moment.tool';
import { registerSynthesizePreviewTool, type SynthesizePreviewDeps } from './tools/synthesize-preview.tool';
import { registerValidateBlueprintTool } from './tools/validate-blueprint.tool';

export const MUSIC_TOOLS_NAME = 'music-tools';
export const MUSIC_TOOLS_VERSION = '0.1.0';
export const BLUEPRINT_SCHEMA_URI = 'blueprint://schema';

export interface MusicToolsServerOptions extends SynthesizePreviewDeps {
  /** The api the agent tools call; without it they are listed but answer API_NOT_CONFIGURED. */
  moments?: MomentsApi;
}

/** One MCP server with every tool and resource; each transport (stdio, or one HTTP request) gets its own. */
export function createMusicToolsServer(options: MusicToolsServerOptions = {}): McpServer {
  const server = new McpServer(
    { name: MUSIC_TOOLS_NAME, title: 'Main Character Moment music tools', version: MUSIC_TOOLS_VERSION },
    {
      instructions:
        'Makes a personal theme song from a recording: create_moment with the audio as base64 (list_styles for the style), ' +
        'then wait_for_moment returns the finished preview MP3; get_moment reads it at any time. ' +
        'For blueprints: read blueprint://schema for the format, check drafts with validate_blueprint, and render audio with synthesize_preview.',
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
  registerCreateMomentTool(server, options.moments);
  registerGetMomentTool(server, options.moments);
  registerWaitForMomentTool(server, options.moments);
  registerListStylesTool(server);
  return server;
}
