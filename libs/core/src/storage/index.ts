export * from './storage.repository';
export * from './embedded-storage';
