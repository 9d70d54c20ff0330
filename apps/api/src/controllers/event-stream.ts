import type { Response } from 'express';
import type { MomentEventSink, MomentStreamEvent, MomentSubscription } from '../services/moment-events.service';

/** How long an EventSource waits before reconnecting after the connection drops. */
const RETRY_MS = 2_000;

function frame(event: MomentStreamEvent): string {
  // JSON.stringify never writes a line break, so the data fits on one `data:` line.
  return `id: ${event.id}\nevent: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/** Serves a subscription as `text/event-stream` on the response, until the moment ends or the client leaves. */
export function serveEventStream(response: Response, subscription: MomentSubscription): void {
  response.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    // Proxies must neither cache, transform nor buffer the stream (nginx reads X-Accel-Buffering).
    'Cache-Control': 'no-cache, no-transform',
    'X-Accel-Buffering': 'no',
  });
  response.socket?.setNoDelay(true);
  response.write(`retry: ${RETRY_MS}\n\n`);
  const sink: MomentEventSink = {
    send: (event) => response.write(frame(event)),
    heartbeat: () => void response.write(': heartbeat\n\n'),
    end: () => response.end(),
  };
  response.on('drain', () => subscription.drained());
  response.once('close', () => subscription.close());
  subscription.start(sink);
}
