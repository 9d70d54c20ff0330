import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { loadFs } from '../node-fs';
import { MomentFailedError, MomentsApiError } from '../errors';
import { MomentsClient } from '../moments-client';
import type { Moment, OutputKind } from '../types';
import { ProgressLine, type Output } from './progress-line';

/** The slice of Node's `process` the CLI uses; declared here so the package needs no Node typings. */
export interface CliProcess {
  env: Record<string, string | undefined>;
  stdout: Output;
  stderr: Output;
  once(event: 'SIGINT', listener: () => void): unknown;
  off(event: 'SIGINT', listener: () => void): unknown;
}

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

const DEFAULT_BASE_URL = 'http://127.0.0.1:3000';
const FAILED_STATUSES: ReadonlySet<string> = new Set(['FAILED', 'CANCELED']);

interface GlobalOptions {
  baseUrl: string;
  apiKey?: string;
  adminToken?: string;
  json?: boolean;
}

/** Wrong input from the person at the keyboard: exit code 2, like commander's own usage errors. */
class UsageError extends Error {}

/** Runs `mcm` with `args` (without node and the script) and resolves with the exit code. */
export async function runCli(args: string[], proc: CliProcess): Promise<number> {
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort(new DOMException('Interrupted', 'AbortError'));
  proc.once('SIGINT', onSigint);
  let exitCode: number = EXIT.ok;
  const context = { proc, signal: interrupt.signal, exit: (code: number) => (exitCode = code) };
  try {
    await buildProgram(context).parseAsync(args, { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportError(error, proc, interrupt.signal, args.includes('--json'));
  } finally {
    proc.off('SIGINT', onSigint);
  }
}

interface CliContext {
  proc: CliProcess;
  signal: AbortSignal;
  exit: (code: number) => void;
}

function buildProgram(context: CliContext): Command {
  const { proc } = context;
  const program = new Command('mcm')
    .description('Turn a few seconds of humming into your own theme song, with the Main Character Moment API.')
    .addOption(new Option('--base-url <url>', 'where the API lives').env('MCM_BASE_URL').default(DEFAULT_BASE_URL))
    .addOption(new Option('--api-key <key>', 'client key, sent as X-Api-Key').env('MCM_API_KEY'))
    .addOption(new Option('--admin-token <token>', 'operator token, for jobs and retry').env('MCM_ADMIN_TOKEN'))
    .option('--json', 'print JSON on stdout for scripts (watch prints one line per change)')
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({ writeOut: (text) => proc.stdout.write(text), writeErr: (text) => proc.stderr.write(text) })
    .showHelpAfterError('(mcm --help lists the commands; mcm <command> --help their options)')
    .exitOverride();
  program.addHelpText('after', '\nExit codes: 0 success, 1 the moment failed or the API refused, 2 bad usage, 130 interrupted.\nExample: mcm create clip.m4a --style lofi --out song.mp3');

  program
    .command('create')
    .description('upload a recording, show its progress, and save the preview MP3')
    .argument('<file>', 'the recording: wav, mp3, m4a, ogg, webm, flac …')
    .option('--style <style>', 'the song style, e.g. cinematic, anthem, lofi, synthwave')
    .option('--title <title>', 'a title for the moment')
    .option('--lyrics <lyrics>', 'words to sing instead of the generated ones')
    .addOption(new Option('--output-kind <kind>', 'what to render').choices(['preview', 'song']))
    .option('--out <path>', 'where to save the preview (default: <file>-theme.mp3)')
    .option('--idempotency-key <key>', 'reuse to make a repeated command return the first moment (default: random)')
    .addOption(timeoutOption())
    .action(async (file: string, options: CreateOptions, command: Command) => {
      await createCommand(file, options, globals(command), context);
    });

  program
    .command('status')
    .description('show a moment (exits 1 when it FAILED or was CANCELED)')
    .argument('<id>', 'the moment id')
    .action(async (id: string, _options: unknown, command: Command) => {
      const options = globals(command);
      const moment = await client(options).getMoment(id, { signal: context.signal });
      if (options.json) printJson(proc, moment);
      else proc.stdout.write(describeMoment(moment));
      if (FAILED_STATUSES.has(moment.status)) context.exit(EXIT.failed);
    });

  program
    .command('watch')
    .description('follow a moment live until it ends (exits 1 when it fails)')
    .argument('<id>', 'the moment id')
    .addOption(timeoutOption())
    .action(async (id: string, { timeout }: { timeout: number }, command: Command) => {
      const options = globals(command);
      const line = new ProgressLine(proc.stderr);
      const onProgress = options.json ? (moment: Moment) => printJson(proc, moment) : (moment: Moment) => line.update(moment);
      let moment: Moment;
      try {
        moment = await client(options).waitForMoment(id, { timeoutMs: timeout * 1000, onProgress, signal: context.signal });
      } finally {
        line.end();
      }
      if (!options.json) proc.stdout.write(`${moment.id} COMPLETED${moment.assets.preview ? `\npreview: ${moment.assets.preview}` : ''}\n`);
    });

  program
    .command('delete')
    .description('delete a moment: its recording and every asset')
    .argument('<id>', 'the moment id')
    .action(async (id: string, _options: unknown, command: Command) => {
      const options = globals(command);
      await client(options).deleteMoment(id, { signal: context.signal });
      if (options.json) printJson(proc, { id, deleted: true });
      else proc.stdout.write(`deleted ${id}\n`);
    });

  program
    .command('jobs')
    .description('operators: list moments, newest first (needs --admin-token)')
    .option('--status <statuses>', 'only these statuses, comma-separated, e.g. FAILED or FAILED,CANCELED')
    .addOption(new Option('--limit <n>', 'how many (1-100)').argParser(positiveInteger))
    .option('--cursor <cursor>', 'the next page, from a previous listing')
    .action(async (query: { status?: string; limit?: number; cursor?: string }, command: Command) => {
      const options = globals(command);
      const page = await admin(options).listJobs(query, { signal: context.signal });
      if (options.json) return printJson(proc, page);
      for (const job of page.items) {
        const detail = job.error ? `${job.error.stage ?? ''} ${job.error.code}` : (job.stage ?? '');
        proc.stdout.write(`${job.id}  ${job.status.padEnd(9)}  ${job.created_at}  ${detail}\n`);
      }
      if (page.items.length === 0) proc.stdout.write('no jobs\n');
      if (page.next_cursor) proc.stdout.write(`more: mcm jobs --cursor ${page.next_cursor}\n`);
    });

  program
    .command('retry')
    .description('operators: resume a FAILED or CANCELED moment from the stage that stopped it (needs --admin-token)')
    .argument('<id>', 'the moment id')
    .action(async (id: string, _options: unknown, command: Command) => {
      const options = globals(command);
      const moment = await admin(options).retryJob(id, { signal: context.signal });
      if (options.json) printJson(proc, moment);
      else proc.stdout.write(`${moment.id} resumed: ${moment.status}${moment.stage ? ` · ${moment.stage}` : ''}\n`);
    });

  return program;
}

interface CreateOptions {
  style?: string;
  title?: string;
  lyrics?: string;
  outputKind?: OutputKind;
  out?: string;
  idempotencyKey?: string;
  timeout: number;
}

async function createCommand(file: string, options: CreateOptions, global: GlobalOptions, { proc, signal, exit }: CliContext): Promise<void> {
  const fs = await loadFs();
  const stat = await fs.promises.stat(file).catch(() => null);
  if (!stat?.isFile()) throw new UsageError(`no such file: ${file}`);
  const out = options.out ?? `${file.replace(/\.[^./\\]*$/, '')}-theme.mp3`;
  const line = new ProgressLine(proc.stderr);
  if (!global.json) proc.stderr.write(`uploading ${file}\n`);
  try {
    const { moment, preview } = await client(global).run(file, {
      style: options.style,
      title: options.title,
      lyrics: options.lyrics,
      outputKind: options.outputKind,
      idempotencyKey: options.idempotencyKey,
      timeoutMs: options.timeout * 1000,
      onProgress: (update) => line.update(update),
      signal,
    });
    line.end();
    await fs.promises.writeFile(out, preview);
    if (global.json) printJson(proc, { id: moment.id, status: moment.status, out, bytes: preview.length, moment });
    else proc.stdout.write(`saved ${out} (${Math.round(preview.length / 1024)} KiB) from moment ${moment.id}\n`);
  } catch (error) {
    line.end();
    if (!(error instanceof MomentFailedError)) throw error;
    if (global.json) printJson(proc, { id: error.moment.id, status: error.status, error: error.error, moment: error.moment });
    proc.stderr.write(`${error.message}\n`);
    exit(EXIT.failed);
  }
}

function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

function client(options: GlobalOptions): MomentsClient {
  return new MomentsClient({ baseUrl: options.baseUrl, apiKey: options.apiKey });
}

function admin(options: GlobalOptions): MomentsClient {
  if (!options.adminToken) throw new UsageError('this command needs the operator token: --admin-token or MCM_ADMIN_TOKEN');
  return new MomentsClient({ baseUrl: options.baseUrl, apiKey: options.apiKey, adminToken: options.adminToken });
}

function timeoutOption(): Option {
  return new Option('--timeout <seconds>', 'give up waiting after this long (the moment goes on)').argParser(positiveInteger).default(600);
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('Not a positive whole number.');
  return parsed;
}

function printJson(proc: CliProcess, value: unknown): void {
  proc.stdout.write(`${JSON.stringify(value)}\n`);
}

function describeMoment(moment: Moment): string {
  const rows: Array<[string, string | null | undefined]> = [
    ['id', moment.id],
    ['status', `${moment.status}${moment.stage ? ` · ${moment.stage}` : ''} (${Math.round(moment.progress * 100)}%)`],
    ['style', moment.style],
    ['title', moment.title],
    ['error', moment.error ? `${moment.error.code} at ${moment.error.stage ?? 'unknown stage'}: ${moment.error.message}` : null],
    ['created', moment.created_at],
    ['completed', moment.completed_at],
    ['preview', moment.assets.preview],
  ];
  return rows
    .filter((row): row is [string, string] => Boolean(row[1]))
    .map(([name, value]) => `${name.padEnd(10)}${value}\n`)
    .join('');
}

/** Prints why the command stopped and returns its exit code. */
function reportError(error: unknown, proc: CliProcess, signal: AbortSignal, json: boolean): number {
  if (error instanceof CommanderError) {
    // Help and version are successes; every other commander error is a usage error commander has printed.
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? EXIT.ok : EXIT.usage;
  }
  if (error instanceof UsageError) {
    proc.stderr.write(`error: ${error.message}\n`);
    return EXIT.usage;
  }
  if (signal.aborted) {
    proc.stderr.write('interrupted\n');
    return EXIT.interrupted;
  }
  if (json && error instanceof MomentsApiError) printJson(proc, { error: error.problem });
  proc.stderr.write(`error: ${explain(error)}\n`);
  return EXIT.failed;
}

/** One line for an error; fetch hides why a connection failed in `cause` (ECONNREFUSED …). */
function explain(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return cause ? `${error.message} (${cause})` : error.message;
}
