import type { FastifyReply } from 'fastify';

/**
 * Whether the client of one request is still there, watched from the
 * moment the handler starts, before its first await: a client that leaves
 * while it is being admitted must not get a job queued for nobody. A
 * response closed before it finished is a client that left (Fastify's
 * "Detecting When Clients Abort" guide); one closed before this watch began
 * shows as an already destroyed response or socket.
 */
export class ClientPresence {
  private left: boolean;

  constructor(reply: FastifyReply) {
    const res = reply.raw;
    this.left = res.destroyed || res.socket?.destroyed === true;
    res.once('close', () => {
      if (!res.writableFinished) this.left = true;
    });
  }

  get gone(): boolean {
    return this.left;
  }
}
