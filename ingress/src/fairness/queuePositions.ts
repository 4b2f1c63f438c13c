import { PRIORITY_CLASSES, priorityClassScores, type PriorityClass, type RedisClient, type RedisNames } from '@infergate/shared';

/**
 * Where jobs stand in BullMQ's own structures: a waiting job's rank in its
 * queue's prioritized set (jobs without a priority, in the wait list, go
 * before all of them), and how many of a model's jobs wait in each priority
 * class's band. Reads only; one round trip each.
 */
export class QueuePositions {
  constructor(
    private readonly redis: RedisClient,
    private readonly names: RedisNames,
  ) {}

  /**
   * How many jobs the fleet starts before this one, plus one: 1 means it is
   * next. Undefined when the job waits in neither queue (taken, or gone).
   * `lane`: the affinity lane it was placed in, tried first.
   */
  async position(model: string, rid: string, lane?: string): Promise<number | undefined> {
    const queues = [...(lane === undefined ? [] : [this.names.laneQueueName(model, lane)]), this.names.queueName(model)];
    const pipeline = this.redis.pipeline();
    for (const q of queues) pipeline.zrank(this.names.prioritizedJobs(q), rid).llen(this.names.waitingJobs(q));
    const replies = (await pipeline.exec()) ?? [];
    for (let i = 0; i < queues.length; i++) {
      const [rankErr, rank] = replies[2 * i] ?? [];
      const [lenErr, unprioritized] = replies[2 * i + 1] ?? [];
      const failed = rankErr ?? lenErr;
      if (failed) throw failed;
      if (typeof rank === 'number') return rank + (typeof unprioritized === 'number' ? unprioritized : 0) + 1;
    }
    return undefined;
  }

  /** Jobs waiting in each model's shared queue, by priority class. */
  async waitingByClass(models: Iterable<string>): Promise<Array<{ model: string; counts: Record<PriorityClass, number> }>> {
    const list = [...models];
    const classes = Object.keys(PRIORITY_CLASSES) as PriorityClass[];
    const pipeline = this.redis.pipeline();
    for (const model of list) {
      const key = this.names.prioritizedJobs(this.names.queueName(model));
      for (const cls of classes) {
        const { min, max } = priorityClassScores(cls);
        pipeline.zcount(key, min, max);
      }
    }
    const replies = (await pipeline.exec()) ?? [];
    return list.map((model, m) => ({
      model,
      counts: Object.fromEntries(classes.map((cls, c) => [cls, Number(replies[m * classes.length + c]?.[1] ?? 0)])) as Record<PriorityClass, number>,
    }));
  }
}
