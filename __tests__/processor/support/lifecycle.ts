import type { Pool } from 'pg';
import type { RunningProcessor } from './in-process';
import { startStack, type TestStack } from './stack';

/** What an integration test file tracks so the shared lifecycle can clean it up. */
export interface IntegrationState {
  /** Called once the servers are up (the file keeps its own `stack` variable). */
  readonly onStack: (stack: TestStack) => void;
  readonly stack: () => TestStack | undefined;
  /** Processors started by a test: stopped after each test. */
  readonly running: RunningProcessor[];
  /** Admin pools: ended after the file. */
  readonly pools: Pool[];
}

/**
 * Registers the jest hooks every integration file needs: one kinesalite + PostgreSQL per file,
 * processors stopped after each test (gracefully, so leases are released), pools and servers closed
 * at the end.
 */
export function useIntegrationStack(state: IntegrationState, startTimeoutMs = 90_000): void {
  beforeAll(async () => {
    state.onStack(await startStack());
  }, startTimeoutMs);

  afterEach(async () => {
    await Promise.all(state.running.splice(0).map((p) => p.stop()));
  });

  afterAll(async () => {
    await Promise.all(state.pools.map((p) => p.end()));
    await state.stack()?.stop();
  });
}
