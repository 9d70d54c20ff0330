import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { createMomentInput, momentToolOutput } from '@mcm/pipeline';
import type { MomentsApi } from '../moments-api';
import { momentResult, withMomentsApi } from './moment-result';

export function registerCreateMomentTool(server: McpServer, api?: MomentsApi): void {
  server.registerTool(
    'create_moment',
    {
      title: 'Create a moment',
      description:
        'Starts a theme song from a recording of someone humming, singing or speaking: the audio bytes as base64 (never a URL), ' +
        'optionally a style (see list_styles), title and lyrics. Answers at once with the moment (id, status, links); ' +
        'then call wait_for_moment with its id to receive the finished preview.',
      inputSchema: createMomentInput,
      outputSchema: momentToolOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    ({ audio_base64, ...fields }, extra) =>
      withMomentsApi(api, async (moments) => {
        const audio = moments.decodeAudio(audio_base64);
        const created = await moments.create(audio, fields, extra.signal);
        const lead = `Started moment ${created.id} from ${audio.length} bytes of audio. Call wait_for_moment with this id.`;
        // The moment exists once created: a failed read of its links must not report the create as failed.
        const moment = await moments.get(created.id, extra.signal).catch(() => undefined);
        if (moment) return momentResult(moment, moments, lead);
        return { content: [{ type: 'text', text: lead }], structuredContent: { ok: true, id: created.id, status: created.status, status_url: created.status_url } };
      }),
  );
}
