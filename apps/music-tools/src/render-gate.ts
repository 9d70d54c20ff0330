import { availableParallelism } from 'node:os';
import { ToolFailure } from './tool-failure';

/** Calls that may wait for a render slot unless configured (`MCP_RENDER_QUEUE`). */
export const DEFAULT_RENDER_QUEUE = 16;

/**
 * Caps the renders one music-tools process runs at once. Calls beyond the cap wait in a bounded
 * queue, first come first served; beyond the queue they are refused at once with a retryable
 * MUSIC_TOOLS_BUSY, so the caller's backoff spreads the load instead of a pile of threads here.
 */
export class RenderGate {
  private active = 0;
  private readonly queue: Array<() => void> = [];

  constructor(
    readonly maxRenders: number,
    readonly maxWaiting: number,
  ) {}

  /** Renders in progress. */
  get running(): number {
    return this.active;
  }

  /** Calls waiting for a render slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves with the function that gives the slot back. A caller that goes away while waiting
   * (`signal` aborted) leaves the queue and rejects with CANCELED.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(canceled());
    if (this.active < this.maxRenders) return Promise.resolve(this.take());
    if (this.queue.length >= this.maxWaiting) {
      return Promise.reject(new ToolFailure('MUSIC_TOOLS_BUSY', `music-tools is rendering ${this.active} previews and ${this.queue.length} more are waiting; try again shortly.`, true));
    }
    return new Promise((resolve, reject) => {
      const admit = () => {
        signal?.removeEventListener('abort', leave);
        resolve(this.take());
      };
      const leave = () => {
        const index = this.queue.indexOf(admit);
        if (index >= 0) this.queue.splice(index, 1);
        reject(canceled());
      };
      signal?.addEventListener('abort', leave, { once: true });
      this.queue.push(admit);
    });
  }

  private take(): () => void {
    this.active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
      this.queue.shift()?.();
    };
  }
}

function canceled(): ToolFailure {
  return new ToolFailure('CANCELED', 'The request was canceled', true);
}

/** One render per core, the default of `MCP_MAX_RENDERS`. */
export function defaultRenderGate(): RenderGate {
  return new RenderGate(availableParallelism(), DEFAULT_RENDER_QUEUE);
}
