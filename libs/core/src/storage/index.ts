export * from './storage.repository';
export * from './embedded-storage';
export * from './presigned-url';
