/** The wrapped data keys that envelope-encrypted values reference, kept in PostgreSQL (`data_keys`). */
import type { Pool } from 'pg';
import type { DataKeyStore } from './phi';

/** data_keys rows: the wrapped data keys ciphertexts reference. */
export function pgDataKeyStore(pool: Pool): DataKeyStore {
  return {
    save: async (k) => {
      await pool.query('INSERT INTO data_keys (data_key_id, wrapped_key, wrapping_key) VALUES ($1, $2, $3)', [k.dataKeyId, k.wrappedKey, k.wrappingKey]);
    },
    load: async (id) => {
      const { rows } = await pool.query<{ wrapped_key: Buffer; wrapping_key: string }>('SELECT wrapped_key, wrapping_key FROM data_keys WHERE data_key_id = $1', [id]);
      const row = rows[0];
      return row ? { dataKeyId: id, wrappedKey: row.wrapped_key, wrappingKey: row.wrapping_key } : undefined;
    },
  };
}
