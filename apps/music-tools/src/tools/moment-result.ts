import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Moment } from '@main-character/sdk';
import type { MomentToolOutput } from '@mcm/pipeline';
import type { MomentsApi } from '../moments-api';
import { failureResult, ToolFailure } from '../tool-failure';

/** The moment as every agent tool answers it, with the api's URL of it. */
export function momentOutput(moment: Moment, api: MomentsApi): MomentToolOutput {
  return {
    ok: true,
    id: moment.id,
    status: moment.status as MomentToolOutput['status'],
    stage: moment.stage ?? null,
    progress: moment.progress,
    style: moment.style ?? null,
    title: moment.title ?? null,
    status_url: `${api.baseUrl}/v1/moments/${encodeURIComponent(moment.id)}`,
    links: { ...moment.assets },
    moment_error: moment.error ? { stage: moment.error.stage ?? null, code: moment.error.code, message: moment.error.message, retryable: moment.error.retryable } : null,
  };
}

/** One line an agent (or a person reading its transcript) understands. */
export function describeMoment(moment: Moment): string {
  const percent = Math.round(moment.progress * 100);
  const stage = moment.stage ? `, stage ${moment.stage}` : '';
  const preview = moment.assets.preview ? `; preview: ${moment.assets.preview}` : '';
  return `Moment ${moment.id} is ${moment.status} (${percent}%${stage})${preview}`;
}

export function momentResult(moment: Moment, api: MomentsApi, lead?: string, extra: Partial<MomentToolOutput> = {}): CallToolResult {
  const text = lead ? `${lead}\n${describeMoment(moment)}` : describeMoment(moment);
  return { content: [{ type: 'text', text }], structuredContent: { ...momentOutput(moment, api), ...extra } };
}

/** Without MCM_API_URL configured, the agent tools are listed but answer this. */
export const API_NOT_CONFIGURED = new ToolFailure('API_NOT_CONFIGURED', 'This music-tools server has no moments api to call: set MCM_API_URL (and MCM_API_KEY when the api has API_KEYS).', false);

/** Runs a tool's work against the api, answering any ToolFailure as the tool error every tool returns. */
export async function withMomentsApi(api: MomentsApi | undefined, work: (api: MomentsApi) => Promise<CallToolResult>): Promise<CallToolResult> {
  if (!api) return failureResult(API_NOT_CONFIGURED);
  try {
    return await work(api);
  } catch (error) {
    if (error instanceof ToolFailure) return failureResult(error);
    throw error;
  }
}
