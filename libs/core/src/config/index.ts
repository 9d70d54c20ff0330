export * from './app-config';
export * from './log-levels';
export const APP_CONFIG = Symbol('APP_CONFIG');
export * from './redact';
