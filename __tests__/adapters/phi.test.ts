import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecryptCommand, GenerateDataKeyCommand, GenerateMacCommand } from '@aws-sdk/client-kms';
import {
  EnvelopeProtector,
  LruCache,
  DataKeyPurpose,
  createDeadLetterProtector,
  createPhiProtector,
  kmsMac,
  kmsWrapper,
  localMac,
  localWrapper,
  readLocalKey,
  type DataKeyRecord,
  type DataKeyStore,
  type KmsLike,
} from '../../src/adapters/phi';

function memoryStore(): DataKeyStore & { keys: Map<string, DataKeyRecord> } {
  const keys = new Map<string, DataKeyRecord>();
  return { keys, save: async (k) => void keys.set(k.dataKeyId, k), load: async (id) => keys.get(id) };
}

function keyFile(content: Buffer | string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'phi-')), 'phi.key');
  writeFileSync(file, content);
  return file;
}

/** A stand-in for KMS that really computes HMACs and wraps keys, and counts calls. */
function fakeKms(): KmsLike & { calls: Record<string, number> } {
  const master = randomBytes(32);
  const mac = localMac(master);
  const wrap = localWrapper(master);
  const calls: Record<string, number> = { mac: 0, generate: 0, decrypt: 0 };
  return {
    calls,
    send: async (command) => {
      if (command instanceof GenerateMacCommand) {
        calls.mac++;
        return { Mac: await mac.mac(Buffer.from(command.input.Message as Uint8Array)) };
      }
      if (command instanceof GenerateDataKeyCommand) {
        calls.generate++;
        expect(command.input.EncryptionContext).toEqual({ purpose: 'vitals-pipeline-phi' });
        const k = await wrap.generate();
        return { Plaintext: k.plaintext, CiphertextBlob: k.wrapped };
      }
      if (command instanceof DecryptCommand) {
        calls.decrypt++;
        return { Plaintext: await wrap.unwrap(Buffer.from(command.input.CiphertextBlob as Uint8Array)) };
      }
      throw new Error('unexpected command');
    },
  };
}

test('the pseudonym is a stable 32-byte HMAC that differs between patients and keys', async () => {
  const store = memoryStore();
  const a = createPhiProtector({ kind: 'local', keyFile: keyFile(randomBytes(32)) }, store);
  const b = createPhiProtector({ kind: 'local', keyFile: keyFile(randomBytes(32)) }, store);
  const p1 = await a.pseudonym('MRN-1');
  expect(p1).toHaveLength(32);
  expect(await a.pseudonym('MRN-1')).toEqual(p1);
  expect(await a.pseudonym('MRN-2')).not.toEqual(p1);
  expect(await b.pseudonym('MRN-1')).not.toEqual(p1);
});

test('envelope encryption round-trips and the stored data key is wrapped, not plain', async () => {
  const store = memoryStore();
  const phi = createPhiProtector({ kind: 'local', keyFile: keyFile(randomBytes(32)) }, store);
  const aad = Buffer.from('row-1');
  const enc = await phi.encrypt(Buffer.from('MRN-12345'), aad);
  expect(enc.ciphertext.includes(Buffer.from('MRN-12345'))).toBe(false);
  expect(store.keys.get(enc.dataKeyId)?.wrappingKey).toBe('local');
  expect((await phi.decrypt(enc, aad)).toString()).toBe('MRN-12345');
});

test('a ciphertext moved to another row (other additional data) fails to decrypt', async () => {
  const phi = createPhiProtector({ kind: 'local', keyFile: keyFile(randomBytes(32)) }, memoryStore());
  const enc = await phi.encrypt(Buffer.from('MRN-1'), Buffer.from('row-1'));
  await expect(phi.decrypt(enc, Buffer.from('row-2'))).rejects.toThrow();
});

test('another process with the same key file decrypts through the stored wrapped key', async () => {
  const store = memoryStore();
  const file = keyFile(randomBytes(32));
  const writer = createPhiProtector({ kind: 'local', keyFile: file }, store);
  const enc = await writer.encrypt(Buffer.from('MRN-9'), Buffer.from('x'));
  const reader = createPhiProtector({ kind: 'local', keyFile: file }, store);
  expect((await reader.decrypt(enc, Buffer.from('x'))).toString()).toBe('MRN-9');
});

test('the local key file may be raw, hex or base64, and must hold 32 bytes', () => {
  const key = randomBytes(32);
  expect(readLocalKey(keyFile(key))).toEqual(key);
  expect(readLocalKey(keyFile(key.toString('hex')))).toEqual(key);
  expect(readLocalKey(keyFile(key.toString('base64')))).toEqual(key);
  expect(() => readLocalKey(keyFile(randomBytes(16)))).toThrow(/must hold 32 bytes/);
});

test('with KMS, pseudonyms are cached so a known patient costs no KMS call', async () => {
  const kms = fakeKms();
  const phi = new EnvelopeProtector({ mac: kmsMac(kms, 'arn:hmac'), wrapper: kmsWrapper(kms, 'arn:phi'), store: memoryStore() });
  for (let i = 0; i < 10; i++) await phi.pseudonym('MRN-1');
  await phi.pseudonym('MRN-2');
  expect(kms.calls.mac).toBe(2);
});

test('with KMS, one data key serves many encryptions until it is rotated', async () => {
  let now = 0;
  const kms = fakeKms();
  const store = memoryStore();
  const phi = new EnvelopeProtector({ mac: kmsMac(kms, 'arn:hmac'), wrapper: kmsWrapper(kms, 'arn:phi'), store, rotationMs: 1_000, now: () => now });
  const first = await Promise.all(Array.from({ length: 20 }, () => phi.encrypt(Buffer.from('x'), Buffer.alloc(0))));
  expect(new Set(first.map((c) => c.dataKeyId)).size).toBe(1);
  expect(kms.calls.generate).toBe(1);
  now = 1_500;
  const later = await phi.encrypt(Buffer.from('x'), Buffer.alloc(0));
  expect(later.dataKeyId).not.toBe(first[0]?.dataKeyId);
  expect(kms.calls.generate).toBe(2);
  expect(store.keys.get(later.dataKeyId)?.wrappingKey).toBe('arn:phi');
});

test('with KMS, decrypting an old ciphertext unwraps its data key once', async () => {
  const kms = fakeKms();
  const store = memoryStore();
  const writer = new EnvelopeProtector({ mac: kmsMac(kms, 'h'), wrapper: kmsWrapper(kms, 'k'), store });
  const enc = await writer.encrypt(Buffer.from('MRN-3'), Buffer.from('a'));
  const reader = new EnvelopeProtector({ mac: kmsMac(kms, 'h'), wrapper: kmsWrapper(kms, 'k'), store });
  expect((await reader.decrypt(enc, Buffer.from('a'))).toString()).toBe('MRN-3');
  await reader.decrypt(enc, Buffer.from('a'));
  expect(kms.calls.decrypt).toBe(1);
});

test('the LRU cache keeps what was used since the last turnover and drops what was not, holding at most twice its capacity', () => {
  const c = new LruCache<string, number>(2);
  c.set('a', 1);
  c.set('b', 2);
  c.set('c', 3); // turnover: a and b become the previous generation
  expect(c.get('a')).toBe(1); // used: back in the current generation
  c.set('d', 4); // turnover: b was not used since the last one
  expect(c.get('b')).toBeUndefined();
  expect([c.get('a'), c.get('c'), c.get('d')]).toEqual([1, 3, 4]);
  expect(c.size).toBeLessThanOrEqual(4);
  c.set('a', 10); // an update replaces the value without a second entry
  expect(c.get('a')).toBe(10);
  for (let i = 0; i < 100; i++) c.set(`k${i}`, i);
  expect(c.size).toBeLessThanOrEqual(4);
  expect(c.get('k99')).toBe(99);
  expect(() => new LruCache(0)).toThrow(/capacity/);
});

test('dead-letter payloads use their own data keys: the patient-id protector cannot decrypt them, nor the reverse', async () => {
  const file = keyFile(randomBytes(32));
  const store = memoryStore();
  const patients = createPhiProtector({ kind: 'local', keyFile: file }, store);
  const deadLetters = createDeadLetterProtector({ kind: 'local', keyFile: file }, store);
  const payload = await deadLetters.encrypt(Buffer.from('{"patientId":"MRN-9"}'), Buffer.from('s/1/2'));
  const id = await patients.encrypt(Buffer.from('MRN-9'), Buffer.from('p'));
  expect((await deadLetters.decrypt(payload, Buffer.from('s/1/2'))).toString()).toContain('MRN-9');
  await expect(patients.decrypt(payload, Buffer.from('s/1/2'))).rejects.toThrow();
  await expect(deadLetters.decrypt(id, Buffer.from('p'))).rejects.toThrow();
  expect(store.keys.get(payload.dataKeyId)?.wrappingKey).toBe('local:dead-letter');
});

test('with KMS each purpose names its own key and encryption context, and dead letters need their key', async () => {
  const seen: Array<{ key?: string; context?: Record<string, string> }> = [];
  const kms: KmsLike = {
    send: async (command) => {
      if (command instanceof GenerateDataKeyCommand) {
        seen.push({ key: command.input.KeyId, context: command.input.EncryptionContext });
        return { Plaintext: randomBytes(32), CiphertextBlob: randomBytes(64) };
      }
      throw new Error('unexpected command');
    },
  };
  const settings = { kind: 'kms', region: 'eu-central-2', phiKeyArn: 'arn:phi', hmacKeyArn: 'arn:hmac', deadLetterKeyArn: 'arn:dead-letter' } as const;
  await createPhiProtector(settings, memoryStore(), kms).encrypt(Buffer.from('x'), Buffer.alloc(0));
  await createDeadLetterProtector(settings, memoryStore(), kms).encrypt(Buffer.from('x'), Buffer.alloc(0));
  expect(seen).toEqual([
    { key: 'arn:phi', context: { purpose: 'vitals-pipeline-phi' } },
    { key: 'arn:dead-letter', context: { purpose: 'vitals-pipeline-dead-letter' } },
  ]);
  expect(DataKeyPurpose.DEAD_LETTER).toBe('dead-letter');
  expect(() => createDeadLetterProtector({ ...settings, deadLetterKeyArn: undefined }, memoryStore(), kms)).toThrow(/DEAD_LETTER_KMS_KEY_ARN/);
});
