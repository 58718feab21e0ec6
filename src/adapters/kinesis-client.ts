/**
 * The Kinesis client. On AWS the SDK's default HTTP/2-capable handler is fine; a custom endpoint
 * (kinesalite) gets an HTTP/1.1 NodeHttpHandler because local emulators reject HTTP/2.
 * Either way connections are kept alive and calls retried (adaptive mode backs off on throttling).
 * `fastGetRecords` swaps in a cheaper GetRecords decoder (kinesis-get-records-protocol.ts) and drops
 * the SDK's logger middleware, which builds a redacted copy of every response (each record of every
 * GetRecords) to hand to the logger even when that logger is the SDK's no-op default (~3 % of the
 * processor's CPU; we never give the SDK a logger: our logs carry no SDK payloads). The processor's
 * choice; a client left at the default is the stock SDK's.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { KinesisGetRecordsProtocol } from './kinesis-get-records-protocol';

export interface KinesisClientOptions {
  readonly region: string;
  readonly endpoint?: string;
  /** @default 4 */
  readonly maxAttempts?: number;
  /** Decode GetRecords responses with KinesisGetRecordsProtocol and skip the SDK's response log filter (same output, less CPU). @default false */
  readonly fastGetRecords?: boolean;
}

export const KINESIS_MAX_SOCKETS = 50;

export function kinesisClientFor(options: KinesisClientOptions): KinesisClient {
  const requestHandler = new NodeHttpHandler({
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: KINESIS_MAX_SOCKETS }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: KINESIS_MAX_SOCKETS }),
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
  });
  const client = new KinesisClient({
    region: options.region,
    maxAttempts: options.maxAttempts ?? 4,
    retryMode: 'adaptive',
    requestHandler,
    // A class, as the SDK's own default is: the client constructs it with the service's protocol settings.
    ...(options.fastGetRecords ? { protocol: KinesisGetRecordsProtocol } : {}),
    ...(options.endpoint
      ? {
          endpoint: options.endpoint,
          // kinesalite accepts any credentials; never reach for a credential chain in local runs.
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }
      : {}),
  });
  if (options.fastGetRecords) client.middlewareStack.remove('loggerMiddleware');
  return client;
}
