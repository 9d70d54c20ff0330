import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { MomentStatus, TERMINAL_STATUSES } from '@mcm/pipeline';
import { APP_CONFIG, MomentChangeFeed, MomentsRepository, type ApiConfig, type MomentChanged, type MomentPoint } from '@mcm/core';
import type { MomentDto } from '../dtos/moment.dto';
import { MomentViewService } from './moment-view.service';
import { MomentsService } from './moments.service';

export const MOMENT_EVENT_NAMES = ['moment.status', 'moment.progress', 'moment.completed', 'moment.failed', 'moment.canceled'] as const;
export type MomentEventName = (typeof MOMENT_EVENT_NAMES)[number];

/** One server-sent event: `id` is the sequence number of the history row it reports. */
export interface MomentStreamEvent {
  id: string;
  event: MomentEventName;
  data: MomentDto;
}

/** Where a stream's events go: the controller's answer to one client. */
export interface MomentEventSink {
  /** Writes one event; false when the client is not keeping up, and the stream waits for `drained()`. */
  send(event: MomentStreamEvent): boolean;
  heartbeat(): void;
  end(): void;
}

export interface OpenMomentStream {
  id: string;
  owner: string | null;
  /** The `Last-Event-ID` header: events after it, none before. */
  lastEventId?: string | null;
}

/** A client's stream, opened (access checked) but not yet serving until `start`. */
export interface MomentSubscription {
  start(sink: MomentEventSink): void;
  /** The client read what was written: the stream catches up from the history. */
  drained(): void;
  /** The client went away. */
  close(): void;
}

const TERMINAL_EVENTS: Partial<Record<MomentStatus, MomentEventName>> = {
  [MomentStatus.Completed]: 'moment.completed',
  [MomentStatus.Failed]: 'moment.failed',
  [MomentStatus.Canceled]: 'moment.canceled',
};

/**
 * The events a reader who knows `known` gets from `points` (oldest first): one for each change of
 * status (named for the status when it ends the moment), stage or progress. Rows that changed
 * none of the three (an ignored stage result, a deletion) send nothing.
 */
export function momentEvents(known: MomentPoint | null, points: readonly MomentPoint[]): Array<{ point: MomentPoint; event: MomentEventName }> {
  const events: Array<{ point: MomentPoint; event: MomentEventName }> = [];
  let previous = known;
  for (const point of points) {
    if (previous && point.seq <= previous.seq) continue;
    if (!previous || point.status !== previous.status) events.push({ point, event: TERMINAL_EVENTS[point.status] ?? 'moment.status' });
    else if (point.stage !== previous.stage || point.progress !== previous.progress) events.push({ point, event: 'moment.progress' });
    previous = point;
  }
  return events;
}

/** The `Last-Event-ID` a client sent, as a sequence number; anything else starts from the beginning. */
function sequenceOf(lastEventId: string | null | undefined): bigint {
  return lastEventId && /^\d{1,19}$/.test(lastEventId.trim()) ? BigInt(lastEventId.trim()) : 0n;
}

class ClientStream {
  sink: MomentEventSink | null = null;
  /** The last point this client was told about (or resumed from): its events start after it. */
  known: MomentPoint | null = null;
  waitingForDrain = false;
  ended = false;

  constructor(public seq: bigint) {}
}

/** The streams of one moment on this instance: one history read per change serves all of them. */
class MomentWatch {
  readonly streams = new Set<ClientStream>();
  /** The newest history row this instance has read or heard of. */
  seen = 0n;
  private tail: Promise<void> = Promise.resolve();
  private queued = false;

  constructor(readonly momentId: string) {}

  /** Runs `read` after the one in progress; reads asked for while one waits to start are one read. */
  schedule(read: () => Promise<void>): void {
    if (this.queued) return;
    this.queued = true;
    this.tail = this.tail.then(() => {
      this.queued = false;
      return read();
    });
  }
}

/**
 * Live events of moments over server-sent events. Every transition commits a history row and a
 * Postgres NOTIFY; one LISTEN connection per instance hears it, and the moment's watch reads the
 * rows after what its streams know, once for all of them. The history is the truth: a resumed
 * stream replays it, and a slow periodic check (one query for every watched moment) heals a lost
 * notification. An event's data is the moment as read when it is sent, with the status, stage and
 * progress the reported row recorded, so a replay shows the path the moment took.
 */
@Injectable()
export class MomentEventsService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(MomentEventsService.name);
  private readonly watches = new Map<string, MomentWatch>();
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly moments: MomentsRepository,
    private readonly access: MomentsService,
    private readonly view: MomentViewService,
    private readonly feed: MomentChangeFeed,
    @Inject(APP_CONFIG) private readonly config: Pick<ApiConfig, 'SSE_HEARTBEAT_MS' | 'SSE_RECHECK_MS'>,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.feed.start({ changed: (change) => this.changed(change), resumed: () => void this.recheck() });
    this.timers = [setInterval(() => this.heartbeat(), this.config.SSE_HEARTBEAT_MS), setInterval(() => void this.recheck(), this.config.SSE_RECHECK_MS)];
    for (const timer of this.timers) timer.unref();
  }

  /** Ends every stream (clients resume elsewhere with Last-Event-ID), so the server can close. */
  async onModuleDestroy(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    for (const watch of this.watches.values()) for (const stream of watch.streams) this.finish(watch, stream);
    await this.feed.close();
  }

  /** Streams open on this instance. */
  get streamCount(): number {
    let count = 0;
    for (const watch of this.watches.values()) count += watch.streams.size;
    return count;
  }

  /** Checks access as `GET /v1/moments/{id}` does (404 for unknown or another key's, 410 deleted) before anything is written. */
  async open(command: OpenMomentStream): Promise<MomentSubscription> {
    const moment = await this.access.findForClient(command.id, command.owner);
    const stream = new ClientStream(sequenceOf(command.lastEventId));
    let watch: MomentWatch | null = null;
    return {
      start: (sink) => {
        stream.sink = sink;
        watch = this.watches.get(moment.id) ?? new MomentWatch(moment.id);
        this.watches.set(moment.id, watch);
        watch.streams.add(stream);
        this.read(watch);
      },
      drained: () => {
        if (!watch || !stream.waitingForDrain) return;
        stream.waitingForDrain = false;
        this.read(watch);
      },
      close: () => {
        if (watch) this.finish(watch, stream, false);
      },
    };
  }

  private changed(change: MomentChanged): void {
    const watch = this.watches.get(change.momentId);
    if (watch && change.seq > watch.seen) this.read(watch);
  }

  /** One query for every watched moment: those whose history moved past what was read are read again. */
  private async recheck(): Promise<void> {
    if (!this.watches.size) return;
    try {
      const last = await this.moments.lastSeqs([...this.watches.keys()]);
      for (const [momentId, seq] of last) {
        const watch = this.watches.get(momentId);
        if (watch && seq > watch.seen) this.read(watch);
      }
    } catch (error) {
      this.logger.warn(`live-event check failed: ${(error as Error).message}`);
    }
  }

  private heartbeat(): void {
    for (const watch of this.watches.values()) for (const stream of watch.streams) if (!stream.waitingForDrain) stream.sink?.heartbeat();
  }

  private read(watch: MomentWatch): void {
    watch.schedule(async () => {
      const readers = [...watch.streams].filter((stream) => !stream.waitingForDrain && !stream.ended);
      if (!readers.length) return;
      const from = readers.reduce((low, stream) => (stream.seq < low ? stream.seq : low), readers[0].seq);
      try {
        const points = await this.moments.pointsSince(watch.momentId, from);
        const moment = await this.moments.findById(watch.momentId);
        if (!moment) return;
        const last = points.at(-1);
        if (last && last.seq > watch.seen) watch.seen = last.seq;
        const data = await this.view.toDto(moment);
        for (const stream of readers) this.deliver(watch, stream, points, data);
      } catch (error) {
        // The next notification or check reads again from the same place.
        this.logger.warn(`moment ${watch.momentId}: live events not read (${(error as Error).message})`);
      }
    });
  }

  private deliver(watch: MomentWatch, stream: ClientStream, points: MomentPoint[], data: MomentDto): void {
    if (stream.ended || !stream.sink) return;
    const known = points.filter((point) => point.seq <= stream.seq).at(-1) ?? stream.known;
    const events = momentEvents(
      known,
      points.filter((point) => point.seq > stream.seq),
    );
    stream.known = known;
    for (const { point, event } of events) {
      const accepted = stream.sink.send({ id: point.seq.toString(), event, data: { ...data, status: point.status, stage: point.stage, progress: point.progress } });
      stream.known = point;
      stream.seq = point.seq;
      if (!accepted) stream.waitingForDrain = true;
    }
    const newest = points.at(-1);
    if (newest && newest.seq > stream.seq) stream.seq = newest.seq;
    // The moment has ended and the client was told so (every status change is an event): nothing more will come.
    if (newest && TERMINAL_STATUSES.includes(newest.status)) this.finish(watch, stream);
  }

  private finish(watch: MomentWatch, stream: ClientStream, endResponse = true): void {
    if (stream.ended) return;
    stream.ended = true;
    watch.streams.delete(stream);
    if (!watch.streams.size && this.watches.get(watch.momentId) === watch) this.watches.delete(watch.momentId);
    if (endResponse) stream.sink?.end();
  }
}
