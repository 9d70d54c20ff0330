export * from './elevenlabs.client';
export * from './composition-plan';
