import { decodeJobFate, encodeJobFate, type InternalFailures, type JobFate, type RedisClient, type RedisNames } from '@infergate/shared';
import type { DispatcherOperation } from './metrics.js';

/** This dispatcher's reads and writes of the never-run-twice records (see `JobFate`). */
export class JobFates {
  constructor(
    private readonly redis: RedisClient,
    private readonly names: RedisNames,
    private readonly settings: { readonly dispatcherId: string; readonly ttlSeconds: number },
    private readonly failures: InternalFailures<DispatcherOperation>,
  ) {}

  /**
   * Records that `rid`'s client has seen its response head. Written after
   * the head's PUBLISH (which leaves at the end of this turn): written first,
   * the record would make Redis handle it and sleep before the frames the
   * client is waiting for arrive. A record that cannot be written leaves the
   * job open to a second run if it stalls; that is counted, not hidden.
   */
  recordStarted(rid: string): void {
    setImmediate(() => {
      const value = encodeJobFate({ kind: 'started', dispatcher: this.settings.dispatcherId });
      this.redis.set(this.names.jobFate(rid), value, 'EX', this.settings.ttlSeconds).catch((err: unknown) => {
        this.failures.report('job_fate_write', err, 'could not record that the job started; a stalled copy of it could run again', { rid });
      });
    });
  }

  read(rid: string): Promise<JobFate | undefined> {
    return this.redis.get(this.names.jobFate(rid)).then(decodeJobFate);
  }
}
