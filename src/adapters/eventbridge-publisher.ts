/**
 * Publishes alert transitions to an EventBridge bus with PutEvents (source vitals-pipeline.alerts).
 * Every detail is checked against the alert event schema first: an event that does not match is a
 * bug, and it stays in the outbox (reported failed) rather than leaving half-right. Per-entry
 * failures are reported by index; a failed call (network, throttling after the SDK's retries) fails
 * every entry, and the relay retries them later. Error text names codes only, never the event.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ALERT_EVENT_DETAIL_TYPE, ALERT_EVENT_SOURCE, type AlertEventDetail } from '../alerts/detail';
import { MAX_ENTRIES_PER_PUBLISH, type AlertPublisher, type PublishResult } from '../alerts/publisher';
import { validateAlertEvent } from '../schema/alert-event';

export interface EventBridgeClientOptions {
  readonly region: string;
  /** A local bus (loopback); unset on AWS. */
  readonly endpoint?: string;
}

export function eventBridgeClientFor(options: EventBridgeClientOptions): EventBridgeClient {
  const requestHandler = new NodeHttpHandler({
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 20 }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 20 }),
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
  });
  return new EventBridgeClient({
    region: options.region,
    maxAttempts: 3,
    retryMode: 'adaptive',
    requestHandler,
    ...(options.endpoint ? { endpoint: options.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
  });
}

export interface EventBridgePublisherOptions {
  readonly client: Pick<EventBridgeClient, 'send'>;
  readonly eventBusName: string;
}

export function eventBridgePublisher(options: EventBridgePublisherOptions): AlertPublisher {
  return {
    publish: async (details: readonly AlertEventDetail[]): Promise<PublishResult[]> => {
      if (details.length > MAX_ENTRIES_PER_PUBLISH) throw new RangeError(`at most ${MAX_ENTRIES_PER_PUBLISH} events per call; received ${details.length}`);
      const results: PublishResult[] = details.map(() => ({ ok: true }));
      const sendable: number[] = [];
      details.forEach((d, i) => {
        const v = validateAlertEvent(d);
        if (v.ok) sendable.push(i);
        else results[i] = { ok: false, error: `schema: ${v.errors.map((e) => `${e.field} ${e.message}`).join('; ')}` };
      });
      if (sendable.length === 0) return results;
      try {
        const out = await options.client.send(
          new PutEventsCommand({
            Entries: sendable.map((i) => {
              const d = details[i] as AlertEventDetail;
              return { EventBusName: options.eventBusName, Source: ALERT_EVENT_SOURCE, DetailType: ALERT_EVENT_DETAIL_TYPE, Detail: JSON.stringify(d), Time: new Date(d.transitionAt) };
            }),
          }),
        );
        const entries = out.Entries ?? [];
        sendable.forEach((i, k) => {
          const e = entries[k];
          if (!e) results[i] = { ok: false, error: 'no result entry' };
          else if (e.ErrorCode) results[i] = { ok: false, error: e.ErrorCode };
        });
      } catch (err) {
        const name = err instanceof Error ? err.name : 'Error';
        for (const i of sendable) results[i] = { ok: false, error: name };
      }
      return results;
    },
  };
}
