import type { Cluster, Redis } from 'ioredis';
import type { RedisClient } from './connection.js';

/*
 * Pub/sub that works the same on one server, behind Sentinel and on a
 * Cluster. On a Cluster it is sharded (SPUBLISH/SSUBSCRIBE): a channel lives
 * on the shard its hash tag names, so relay traffic is not broadcast over
 * the cluster bus to every node. Every channel name is hash-tagged (names.ts).
 */

export type Publish = (channel: string, message: Buffer | string) => Promise<number>;

export interface Publisher {
  /** Resolves with the number of subscribers the message reached. */
  readonly publish: Publish;
  /**
   * Whether that number covers every subscriber, so 0 means nobody listens.
   * SPUBLISH counts only subscribers on the node that ran it.
   */
  readonly countsAllSubscribers: boolean;
}

function isCluster(client: RedisClient): client is Cluster {
  return client.isCluster;
}

/** Chosen once per connection, so a publish costs no branching. */
export function createPublisher(client: RedisClient): Publisher {
  if (isCluster(client)) {
    // ioredis types SPUBLISH's reply loosely; Redis answers an integer.
    return { publish: (channel, message) => client.spublish(channel, message) as Promise<number>, countsAllSubscribers: false };
  }
  return { publish: (channel, message) => client.publish(channel, message), countsAllSubscribers: true };
}

export type MessageHandler = (message: Buffer) => void;

export interface Subscriber {
  /** Delivers every later message on `channel`, as bytes. */
  subscribe(channel: string, onMessage: MessageHandler): Promise<void>;
  /**
   * `listener` runs whenever messages of a subscribed channel may have been
   * lost: pub/sub keeps nothing for a subscriber that is not connected.
   */
  onLoss(listener: (reason: string) => void): void;
  /** Subscribed and connected to every node holding a subscribed channel, as far as known. */
  readonly ready: boolean;
  close(): void;
}

/** Wraps a dedicated connection made with role `subscriber`. */
export function createSubscriber(client: RedisClient): Subscriber {
  return isCluster(client) ? new ShardedSubscriber(client) : new ServerSubscriber(client);
}

abstract class BaseSubscriber implements Subscriber {
  private readonly handlers = new Map<string, MessageHandler>();
  private only: MessageHandler | undefined;
  private readonly lossListeners: Array<(reason: string) => void> = [];
  protected subscribed = false;
  private closed = false;

  constructor(protected readonly client: RedisClient) {}

  abstract subscribe(channel: string, onMessage: MessageHandler): Promise<void>;
  abstract readonly ready: boolean;

  onLoss(listener: (reason: string) => void): void {
    this.lossListeners.push(listener);
  }

  close(): void {
    this.closed = true;
    this.subscribed = false;
    this.client.disconnect();
  }

  protected lose(reason: string): void {
    if (this.closed) return;
    for (const listener of this.lossListeners) listener(reason);
  }

  protected addHandler(channel: string, onMessage: MessageHandler): void {
    this.handlers.set(channel, onMessage);
    this.only = this.handlers.size === 1 ? onMessage : undefined;
  }

  // A connection subscribed to one channel (the usual case) skips decoding
  // the channel name of every message.
  protected readonly deliver = (channel: Buffer, message: Buffer): void => {
    (this.only ?? this.handlers.get(channel.toString()))?.(message);
  };
}

class ServerSubscriber extends BaseSubscriber {
  constructor(protected override readonly client: Redis) {
    super(client);
    client.on('messageBuffer', this.deliver);
    client.on('close', () => this.lose('subscriber disconnected'));
  }

  get ready(): boolean {
    return this.subscribed && this.client.status === 'ready';
  }

  async subscribe(channel: string, onMessage: MessageHandler): Promise<void> {
    this.addHandler(channel, onMessage);
    await this.client.subscribe(channel);
    this.subscribed = true;
  }
}

/**
 * ioredis keeps one subscriber connection per shard that holds a subscribed
 * channel and moves it after a failover. Only the loss of the node that holds
 * one of our channels can lose our messages; other nodes may come and go.
 * Until the cluster names a new owner, ioredis keeps retrying the lost node:
 * that is one loss, not one per attempt.
 */
class ShardedSubscriber extends BaseSubscriber {
  private readonly slots = new Set<number>();
  private lostNode: string | undefined;

  constructor(protected override readonly client: Cluster) {
    super(client);
    client.on('smessageBuffer', this.deliver);
    client.on('-node', (node: Redis) => {
      const key = `${node.options.host}:${node.options.port}`;
      if (key === this.lostNode || !this.ownsOurChannel(key)) return;
      this.lostNode = key;
      this.lose(`subscriber lost node ${key}`);
    });
    client.on('subscribersReady', () => {
      if (this.lostNode !== undefined && !this.ownsOurChannel(this.lostNode)) this.lostNode = undefined;
    });
    client.on('close', () => this.lose('subscriber disconnected'));
  }

  get ready(): boolean {
    return this.subscribed && this.lostNode === undefined && this.client.status === 'ready';
  }

  async subscribe(channel: string, onMessage: MessageHandler): Promise<void> {
    this.addHandler(channel, onMessage);
    this.slots.add(Number(await this.client.cluster('KEYSLOT', channel)));
    await this.client.ssubscribe(channel);
    this.subscribed = true;
  }

  private ownsOurChannel(nodeKey: string): boolean {
    for (const slot of this.slots) if (this.client.slots[slot]?.[0] === nodeKey) return true;
    return false;
  }
}
