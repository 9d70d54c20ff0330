export * from './metrics';
export * from './metrics-endpoint';
export * from './http-observer';
export * from './tracing';
