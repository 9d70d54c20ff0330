export * from './music-tools.client';
