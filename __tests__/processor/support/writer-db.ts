/**
 * What the BatchWriter suites share: a stack (PostgreSQL with TLS, migrated database), the admin pool
 * the tests read with, the processor role's pool the writer writes with, and the local PHI protector.
 */
import type { Pool } from 'pg';
import { createPool } from '../../../src/adapters/db';
import { pgDataKeyStore } from '../../../src/adapters/data-key-store';
import { createPhiProtector, type PatientIdentityProtector } from '../../../src/adapters/phi';
import { adminPool, newDatabase, processorDb, startStack, type TestStack } from './stack';

export interface WriterDb {
  readonly stack: TestStack;
  readonly database: string;
  readonly admin: Pool;
  readonly pool: Pool;
  readonly phi: PatientIdentityProtector;
  stop(): Promise<void>;
}

export async function startWriterDb(maxConnections: number): Promise<WriterDb> {
  const stack = await startStack();
  const database = await newDatabase(stack);
  const admin = adminPool(stack, database);
  const pool = createPool({ ...processorDb(stack, database), maxConnections });
  pool.on('error', () => undefined);
  const phi = createPhiProtector({ kind: 'local', keyFile: stack.keyFile }, pgDataKeyStore(pool));
  return {
    stack,
    database,
    admin,
    pool,
    phi,
    async stop() {
      await pool.end();
      await admin.end();
      await stack.stop();
    },
  };
}
