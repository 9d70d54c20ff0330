import { ConsoleLogger, type ConsoleLoggerOptions, type LogLevel } from '@nestjs/common';
import { redactSecrets } from '@mcm/core';

/**
 * The api's log: on stderr (stdout carries only the "listening" line other processes wait for),
 * with URL credentials and every configured secret masked before a line is written.
 */
export class ApiLogger extends ConsoleLogger {
  constructor(
    context: string,
    options: ConsoleLoggerOptions,
    private readonly secrets: readonly string[],
  ) {
    super(context, options);
  }

  protected override printMessages(messages: unknown[], context?: string, logLevel?: LogLevel, _stream?: 'stdout' | 'stderr', errorStack?: unknown): void {
    super.printMessages(messages, context, logLevel, 'stderr', errorStack);
  }

  protected override formatMessage(logLevel: LogLevel, message: unknown, pid: string, level: string, context: string, diff: string, params?: Record<string, unknown>): string {
    return redactSecrets(super.formatMessage(logLevel, message, pid, level, context, diff, params), this.secrets);
  }

  /** Nest calls this for every error line, with no stack when the message came without one. */
  protected override printStackTrace(stack: string): void {
    super.printStackTrace(stack ? redactSecrets(stack, this.secrets) : stack);
  }
}
