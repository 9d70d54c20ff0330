import type { LogLevel } from '@nestjs/common';

const SEVERITY: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Nest's logger takes the list of levels to print: the configured one and every more severe one. */
export function logLevels(level: LogLevel): LogLevel[] {
  return SEVERITY.slice(0, SEVERITY.indexOf(level) + 1);
}
