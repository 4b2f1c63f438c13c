import { createPublisher, encodeEngineRead, type InferenceJob, type Publish, type RedisClient, type RedisNames } from '@infergate/shared';
import type { EngineReadSender } from '../context.js';

/** Engine reads over Redis: published on the chosen dispatcher's own read channel. */
export class RedisEngineReadSender implements EngineReadSender {
  private readonly publish: Publish;
  private readonly countsAll: boolean;

  constructor(
    commands: RedisClient,
    private readonly names: RedisNames,
  ) {
    const publisher = createPublisher(commands);
    this.publish = publisher.publish;
    this.countsAll = publisher.countsAllSubscribers;
  }

  async send(dispatcherId: string, job: InferenceJob): Promise<boolean> {
    const heard = await this.publish(this.names.engineReadChannel(dispatcherId), encodeEngineRead(job));
    // On a Cluster a shard's count says nothing about the dispatcher (see FrameChannel): assume it heard.
    return heard > 0 || !this.countsAll;
  }
}
