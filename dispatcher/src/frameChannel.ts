import { createPublisher, type Publish, type RedisClient } from '@infergate/shared';

interface Batch {
  readonly frames: Buffer[];
  readonly published: Promise<number>;
  // Function-typed fields, not methods: they are the promise's own settle
  // functions, which need no `this` and are passed on unbound.
  readonly resolve: (receivers: number) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Sends encoded frames to reply channels: everything queued for one channel
 * during one turn of the event loop leaves as a single Redis message. Frames
 * of many requests that became ready together (many engine sockets readable
 * in one poll) cost one PUBLISH instead of one each, while a lone frame
 * waits only for the end of the current turn, never for a timer.
 */
export class FrameChannel {
  private batches = new Map<string, Batch>();
  private scheduled = false;

  private readonly send: Publish;
  /** False on a Cluster, where a message reaching no subscriber does not mean that nobody listens. */
  readonly countsAllSubscribers: boolean;

  constructor(redis: RedisClient) {
    const publisher = createPublisher(redis);
    this.send = publisher.publish;
    this.countsAllSubscribers = publisher.countsAllSubscribers;
  }

  /** Queues a frame; resolves with the number of subscribers that received its message. */
  publish(channel: string, frame: Buffer): Promise<number> {
    let batch = this.batches.get(channel);
    if (!batch) {
      let resolve!: (n: number) => void;
      let reject!: (err: unknown) => void;
      const published = new Promise<number>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      batch = { frames: [], published, resolve, reject };
      this.batches.set(channel, batch);
    }
    batch.frames.push(frame);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
    return batch.published;
  }

  /** The message `channel`'s frames of this turn will travel in, while it has not been sent. */
  unsent(channel: string): Promise<number> | undefined {
    return this.batches.get(channel)?.published;
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const batches = this.batches;
    this.batches = new Map();
    for (const [channel, batch] of batches) {
      const message = batch.frames.length === 1 ? batch.frames[0]! : Buffer.concat(batch.frames);
      this.send(channel, message).then(batch.resolve, batch.reject);
    }
  };
}
