export * from './redis-connection';
export * from './stage-queue';
