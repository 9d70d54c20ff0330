import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { MAX_WAIT_SECONDS, momentToolOutput, waitForMomentInput } from '@mcm/pipeline';
import type { MomentsApi } from '../moments-api';
import { describeMoment, momentOutput, momentResult, withMomentsApi } from './moment-result';

const DEFAULT_WAIT_SECONDS = 120;

export function registerWaitForMomentTool(server: McpServer, api?: MomentsApi): void {
  server.registerTool(
    'wait_for_moment',
    {
      title: 'Wait for a moment',
      description:
        'Follows a moment until its theme song is finished and returns the preview MP3 as audio content, with presigned URLs of every file. ' +
        'Sends progress notifications (progress 0..1, message = stage) when the request carries a progress token. ' +
        `A failed moment is a tool error with the reason; after timeout_s (default ${DEFAULT_WAIT_SECONDS}, at most ${MAX_WAIT_SECONDS}) it answers with the moment as it stands and timed_out: true — call again to keep waiting.`,
      inputSchema: waitForMomentInput,
      outputSchema: momentToolOutput,
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: true },
    },
    ({ id, timeout_s }, extra) =>
      withMomentsApi(api, async (moments): Promise<CallToolResult> => {
        const progressToken = extra._meta?.progressToken;
        const { moment, timedOut } = await moments.wait(id, {
          timeoutMs: (timeout_s ?? DEFAULT_WAIT_SECONDS) * 1000,
          signal: extra.signal,
          onProgress: (update) => {
            if (progressToken === undefined) return;
            const message = update.stage ?? update.status;
            // A lost notification costs the caller one progress line, never the result.
            void extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: update.progress, total: 1, message } }).catch(() => undefined);
          },
        });
        if (timedOut) return momentResult(moment, moments, `Still working after ${timeout_s ?? DEFAULT_WAIT_SECONDS} s; call wait_for_moment again.`, { timed_out: true });
        const previewUrl = moment.assets.preview ?? moment.final_audio_url;
        if (!previewUrl) return momentResult(moment, moments, 'The moment finished without a preview.');
        const preview = await moments.fetchPreview(previewUrl, extra.signal);
        return {
          content: [
            { type: 'audio', data: preview.toString('base64'), mimeType: 'audio/mpeg' },
            { type: 'text', text: `${describeMoment(moment)}\nThe preview MP3 (${preview.length} bytes) is attached; the links expire.` },
          ],
          structuredContent: { ...momentOutput(moment, moments), timed_out: false, preview: { mime_type: 'audio/mpeg', bytes: preview.length } },
        };
      }),
  );
}
