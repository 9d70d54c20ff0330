export * from './redis-connection';
export * from './stage-queue';
export * from './retention-queue';
export * from './webhook-queue';
