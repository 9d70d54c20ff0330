import type { Moment } from '../types';

/** Where the CLI writes: a terminal (stderr, stdout) or anything with `write`. */
export interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const BAR_WIDTH = 24;

/**
 * Shows a moment's progress: on a terminal one line redrawn in place (bar, percent, status and
 * stage); elsewhere (a pipe, a CI log) one plain line per change, so logs stay readable.
 */
export class ProgressLine {
  private drawn = false;

  constructor(private readonly out: Output) {}

  update(moment: Moment): void {
    const percent = `${Math.round(moment.progress * 100)}%`.padStart(4);
    const label = moment.stage ? `${moment.status} · ${moment.stage}` : moment.status;
    if (!this.out.isTTY) {
      this.out.write(`${percent}  ${label}\n`);
      return;
    }
    const filled = Math.round(Math.min(1, Math.max(0, moment.progress)) * BAR_WIDTH);
    const line = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)} ${percent}  ${label}`;
    // \r and "erase line" redraw in place; the line is cut to the terminal so it never wraps.
    this.out.write(`\r\x1b[2K${line.slice(0, (this.out.columns ?? 80) - 1)}`);
    this.drawn = true;
  }

  /** Ends the redrawn line so whatever follows starts on a line of its own. */
  end(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
