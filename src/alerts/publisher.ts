/**
 * The delivery port: the relay hands the publisher at most MAX_ENTRIES_PER_PUBLISH events and gets
 * one result per event, in order (EventBridge PutEvents semantics: a call can partly fail). Adapters:
 * src/adapters/eventbridge-publisher.ts (AWS, and the local bus through the same SDK path).
 */
import type { AlertEventDetail } from './detail';

/** PutEvents accepts at most 10 entries per call. */
export const MAX_ENTRIES_PER_PUBLISH = 10;

export type PublishResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

export interface AlertPublisher {
  publish(details: readonly AlertEventDetail[]): Promise<PublishResult[]>;
}
