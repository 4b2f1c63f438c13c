import {
  createPublisher,
  indexRecord,
  RECORD_HOLDER_SCRIPT,
  type InferenceJob,
  type InternalFailures,
  type Publish,
  type RedisClient,
  type RedisNames,
} from '@infergate/shared';
import type { DispatcherOperation } from '../metrics.js';
import type { CacheEpoch } from './cacheEpoch.js';

/**
 * Records in the shared index that this dispatcher's engine now holds a
 * job's prefix blocks and session: one script call over at most
 * AFFINITY_MAX_BLOCKS + 1 keys, which puts this engine first among each
 * key's holders, each key expiring after the index TTL, then announces the
 * request's heads to the ingresses (they skip the lookup of a request whose
 * heads no dispatcher recorded: ingress/src/affinity/knownHeads.ts). Called
 * only once the engine has answered (never when the job is picked), so a
 * request that was shed, retried elsewhere or failed never advertises a
 * holder that never got it.
 */
export class IndexWriter {
  private readonly publish: Publish;

  constructor(
    private readonly redis: RedisClient,
    private readonly names: RedisNames,
    private readonly dispatcherId: string,
    private readonly epoch: CacheEpoch,
    private readonly ttlSeconds: number,
    private readonly failures: InternalFailures<DispatcherOperation>,
  ) {
    this.publish = createPublisher(redis).publish;
  }

  /**
   * Resolves once the write is on the connection the reply frames use. The
   * runner publishes the end frame only after that, so Redis stores the entries
   * before the client can have the answer: a follow-up sent the moment it
   * arrives (an agent's next tool turn) finds them.
   */
  record(job: InferenceJob): Promise<void> | undefined {
    const keys = job.affinity;
    if (keys === undefined || (keys.blocks.length === 0 && keys.session === undefined)) return undefined;
    const holder = { dispatcher: this.dispatcherId, epoch: this.epoch.current };
    // After the head's PUBLISH has left (end of this turn), as the job's fate is: the client's frames go first.
    return new Promise((resolve) =>
      setImmediate(() => {
        const record = indexRecord(this.names, job.model, keys, holder, this.ttlSeconds);
        const report = (err: unknown) => this.failures.report('affinity_index_write', err, 'could not record the job in the affinity index', { rid: job.rid });
        // The index is a hint: a lost write costs one later cache miss, never a request.
        // EVAL, not EVALSHA: a script Redis does not have yet (a new process, a restarted Redis) would be
        // sent again only after the NOSCRIPT reply, behind the end frame the runner sends next.
        this.redis.eval(RECORD_HOLDER_SCRIPT, record.keys.length, ...record.keys, ...record.args).catch(report);
        // Sent after the script on the same connection, so Redis runs it after the entries exist: an ingress
        // that heard it finds them. Also before the end frame, which its client waits for.
        this.publish(record.channel, record.announcement).catch(report);
        resolve();
      }),
    );
  }
}
