export { startMusicToolsHttp, type MusicToolsHttp, type MusicToolsHttpOptions } from './http';
export { createMusicToolsServer, BLUEPRINT_SCHEMA_URI, MUSIC_TOOLS_NAME, MUSIC_TOOLS_VERSION, type MusicToolsServerOptions } from './music-tools.server';
export { RenderGate } from './render-gate';
export { StemTransfer, type StemTransferOptions } from './stem-transfer';
export { ToolFailure } from './tool-failure';
export type { PreviewEngine } from './tools/synthesize-preview.tool';
export { MomentsApi, type MomentsApiOptions } from './moments-api';
