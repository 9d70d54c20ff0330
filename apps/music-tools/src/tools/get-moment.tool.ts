import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { getMomentInput, momentToolOutput } from '@mcm/pipeline';
import type { MomentsApi } from '../moments-api';
import { momentResult, withMomentsApi } from './moment-result';

export function registerGetMomentTool(server: McpServer, api?: MomentsApi): void {
  server.registerTool(
    'get_moment',
    {
      title: 'Get a moment',
      description: 'The moment as it stands: status, stage, progress (0..1), presigned URLs of its files, and why it failed if it did.',
      inputSchema: getMomentInput,
      outputSchema: momentToolOutput,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: true },
    },
    ({ id }, extra) => withMomentsApi(api, async (moments) => momentResult(await moments.get(id, extra.signal), moments)),
  );
}
