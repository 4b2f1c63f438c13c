import type { FastifyRequest } from 'fastify';
import { encodeBody, forwardableRequestHeaders, JOB_VERSION, type IngressConfig, type InferenceJob, type JobAffinity, type TraceCarrier } from '@infergate/shared';
import type { RoutingFields } from '../requestBody.js';

/**
 * The queued form of one request: its method, target and body exactly as
 * received, the headers an engine may see, and what routing and the relay
 * need (model, deadline, reply channel).
 */
export function inferenceJob(
  request: FastifyRequest,
  body: Buffer,
  route: {
    readonly model: string;
    readonly fields: RoutingFields;
    readonly replyTo: string;
    readonly enqueuedAt: number;
    /** Cache-affinity keys, recorded by the dispatcher that starts the job. */
    readonly affinity?: JobAffinity | undefined;
    /** The request span's trace context, when the ingress traces. */
    readonly trace?: TraceCarrier | undefined;
  },
  config: Pick<IngressConfig, 'QUEUE_WAIT_TIMEOUT_SECONDS' | 'FORWARD_CONVERSATION_ID'>,
): InferenceJob {
  return {
    v: JOB_VERSION,
    rid: request.id,
    method: request.method,
    path: request.url,
    headers: forwardableRequestHeaders(request.headers, { conversationId: config.FORWARD_CONVERSATION_ID }),
    body: encodeBody(body),
    model: route.model,
    stream: route.fields.stream,
    deadline: route.enqueuedAt + config.QUEUE_WAIT_TIMEOUT_SECONDS * 1000,
    replyTo: route.replyTo,
    enqueuedAt: route.enqueuedAt,
    ...(request.principal ? { keyId: request.principal.id } : {}),
    ...(route.affinity ? { affinity: route.affinity } : {}),
    ...(route.trace ? { trace: route.trace } : {}),
  };
}
