export * from './config';
export * from './database';
export * from './storage';
export * from './queue';
export * from './mcp';
export * from './moments/moments.repository';
export * from './moments/moment-lifecycle.service';
export * from './core.module';
