import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface ReadStream {
  status: number;
  headers: Headers;
  events: EventSourceMessage[];
  comments: string[];
  /** True when the server ended the stream; false when the reader stopped first. */
  ended: boolean;
  /** Stops reading and drops the connection. */
  abort(): void;
  /** Resolves once `count` events arrived, or the stream ended. */
  waitFor(count: number, timeoutMs?: number): Promise<EventSourceMessage[]>;
  /** Resolves when the stream ends. */
  done: Promise<void>;
}

/** Opens `url` as an event stream and collects what arrives, parsed by a maintained SSE parser. */
export async function readEventStream(url: string, headers: Record<string, string> = {}): Promise<ReadStream> {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const stream: ReadStream = {
    status: response.status,
    headers: response.headers,
    events: [],
    comments: [],
    ended: false,
    abort: () => controller.abort(),
    waitFor: async (count, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      while (stream.events.length < count && !stream.ended) {
        if (Date.now() > deadline) throw new Error(`${stream.events.length} of ${count} events within ${timeoutMs} ms: ${stream.events.map((e) => e.event).join(', ')}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return stream.events;
    },
    done: Promise.resolve(),
  };
  if (!response.ok || !response.body) {
    stream.ended = true;
    return stream;
  }
  const parser = createParser({ onEvent: (event) => stream.events.push(event), onComment: (comment) => stream.comments.push(comment.trim()) });
  const decoder = new TextDecoder();
  stream.done = (async () => {
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
      stream.ended = true;
    } catch {
      // aborted by the reader
    }
  })();
  return stream;
}
