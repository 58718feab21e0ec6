/**
 * Patient identifiers: a keyed pseudonym (HMAC-SHA256) for joins, and envelope encryption
 * (AES-256-GCM under a data key that is itself wrapped) for the identifier and, under a separate key
 * and purpose, for dead-letter payloads: whoever may unwrap dead-letter data keys cannot unwrap the
 * patient-id data keys (different KMS key, different encryption context), and vice versa.
 * Two implementations behind one interface: AWS KMS (GenerateMac; GenerateDataKey/Decrypt) and a local
 * 32-byte key file (HKDF-derived HMAC and per-purpose wrapping keys) for local runs.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DecryptCommand, GenerateDataKeyCommand, GenerateMacCommand, KMSClient } from '@aws-sdk/client-kms';

export const PSEUDONYM_BYTES = 32;
/** Data keys are rotated at least this often (and after MAX_DATA_KEY_USES encryptions). */
export const DATA_KEY_ROTATION_MS = 60 * 60_000;
/** Far below the 2^32 random-IV limit for one AES-GCM key (NIST SP 800-38D). */
export const MAX_DATA_KEY_USES = 10_000_000;
export const PSEUDONYM_CACHE_SIZE = 50_000;

const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface Ciphertext {
  /** iv || ciphertext || tag */
  readonly ciphertext: Buffer;
  readonly dataKeyId: string;
}

/** A newly generated data key; its wrapped form must be stored before ciphertexts reference it. */
export interface DataKeyRecord {
  readonly dataKeyId: string;
  readonly wrappedKey: Buffer;
  readonly wrappingKey: string;
}

export interface DataKeyStore {
  save(key: DataKeyRecord): Promise<void>;
  load(dataKeyId: string): Promise<DataKeyRecord | undefined>;
}

/** Envelope encryption under one purpose's data keys. */
export interface PayloadProtector {
  /** AES-256-GCM under the current data key; `aad` binds the ciphertext to its row. */
  encrypt(plaintext: Buffer, aad: Buffer): Promise<Ciphertext>;
  decrypt(value: Ciphertext, aad: Buffer): Promise<Buffer>;
}

export interface PatientIdentityProtector extends PayloadProtector {
  /** HMAC-SHA256 of the identifier: stable, not reversible without the key. */
  pseudonym(patientId: string): Promise<Buffer>;
}

/**
 * What a data key protects. Each purpose has its own KMS key and its own encryption context, which
 * the key policies and IAM conditions require (src/infra/keys.ts), so a grant for one purpose never
 * unwraps the other's data keys.
 */
export enum DataKeyPurpose {
  PATIENT_ID = 'patient-id',
  DEAD_LETTER = 'dead-letter',
}

/** The encryption context value (`purpose`) KMS binds each purpose's data keys to. */
export const ENCRYPTION_CONTEXT_PURPOSE: Readonly<Record<DataKeyPurpose, string>> = {
  // Unchanged from before the split: existing patient-id data keys stay decryptable.
  [DataKeyPurpose.PATIENT_ID]: 'vitals-pipeline-phi',
  [DataKeyPurpose.DEAD_LETTER]: 'vitals-pipeline-dead-letter',
};

/** Wraps and unwraps data keys (KMS or the local key). */
export interface KeyWrapper {
  readonly name: string;
  generate(): Promise<{ plaintext: Buffer; wrapped: Buffer }>;
  unwrap(wrapped: Buffer): Promise<Buffer>;
}

export interface MacSource {
  mac(message: Buffer): Promise<Buffer>;
}

/**
 * A bounded cache with least-recently-used eviction in two generations (the scheme of quick-lru): hits
 * in the current generation cost one Map lookup (no re-insertion per hit, which was ~2 % of the
 * processor's CPU at one lookup per event); when the current generation reaches `capacity`, the
 * previous one is dropped and the current becomes previous. A hit in the previous generation moves
 * the entry to the current one, so whatever was used since the last turnover survives the next one.
 * Holds at most 2 x capacity entries; every entry used within the last `capacity` insertions is kept.
 */
export class LruCache<K, V> {
  private current = new Map<K, V>();
  private previous = new Map<K, V>();
  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`LruCache capacity must be a whole number >= 1; received ${capacity}`);
  }
  get(key: K): V | undefined {
    const v = this.current.get(key);
    if (v !== undefined) return v;
    const old = this.previous.get(key);
    if (old !== undefined) {
      this.previous.delete(key);
      this.insert(key, old);
    }
    return old;
  }
  set(key: K, value: V): void {
    if (this.current.has(key)) this.current.set(key, value);
    else {
      this.previous.delete(key);
      this.insert(key, value);
    }
  }
  get size(): number {
    return this.current.size + this.previous.size;
  }
  private insert(key: K, value: V): void {
    if (this.current.size >= this.capacity) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(key, value);
  }
}

export function aesGcmEncrypt(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

export function aesGcmDecrypt(key: Buffer, blob: Buffer, aad: Buffer): Buffer {
  if (blob.length < IV_BYTES + TAG_BYTES) throw new Error('ciphertext too short');
  const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, IV_BYTES));
  decipher.setAAD(aad);
  decipher.setAuthTag(blob.subarray(blob.length - TAG_BYTES));
  return Buffer.concat([decipher.update(blob.subarray(IV_BYTES, blob.length - TAG_BYTES)), decipher.final()]);
}

export interface ProtectorOptions {
  readonly mac: MacSource;
  readonly wrapper: KeyWrapper;
  readonly store: DataKeyStore;
  readonly rotationMs?: number;
  readonly maxUses?: number;
  readonly cacheSize?: number;
  readonly now?: () => number;
}

/** The shared logic: pseudonym cache, current data key with rotation, unwrapped-key cache. */
export class EnvelopeProtector implements PatientIdentityProtector {
  private readonly pseudonyms: LruCache<string, Buffer>;
  private readonly unwrapped = new LruCache<string, Buffer>(64);
  private current?: { id: string; key: Buffer; createdAt: number; uses: number };
  private rotating?: Promise<{ id: string; key: Buffer }>;
  private readonly now: () => number;

  constructor(private readonly options: ProtectorOptions) {
    this.pseudonyms = new LruCache(options.cacheSize ?? PSEUDONYM_CACHE_SIZE);
    this.now = options.now ?? Date.now;
  }

  async pseudonym(patientId: string): Promise<Buffer> {
    const hit = this.pseudonyms.get(patientId);
    if (hit) return hit;
    const mac = await this.options.mac.mac(Buffer.from(patientId, 'utf8'));
    if (mac.length !== PSEUDONYM_BYTES) throw new Error(`pseudonym must be ${PSEUDONYM_BYTES} bytes; received ${mac.length}`);
    this.pseudonyms.set(patientId, mac);
    return mac;
  }

  async encrypt(plaintext: Buffer, aad: Buffer): Promise<Ciphertext> {
    const { id, key } = await this.dataKey();
    return { ciphertext: aesGcmEncrypt(key, plaintext, aad), dataKeyId: id };
  }

  async decrypt(value: Ciphertext, aad: Buffer): Promise<Buffer> {
    let key = this.current?.id === value.dataKeyId ? this.current.key : this.unwrapped.get(value.dataKeyId);
    if (!key) {
      const record = await this.options.store.load(value.dataKeyId);
      if (!record) throw new Error(`data key ${value.dataKeyId} not found`);
      key = await this.options.wrapper.unwrap(record.wrappedKey);
      this.unwrapped.set(value.dataKeyId, key);
    }
    return aesGcmDecrypt(key, value.ciphertext, aad);
  }

  private async dataKey(): Promise<{ id: string; key: Buffer }> {
    const c = this.current;
    const rotationMs = this.options.rotationMs ?? DATA_KEY_ROTATION_MS;
    const maxUses = this.options.maxUses ?? MAX_DATA_KEY_USES;
    if (c && this.now() - c.createdAt < rotationMs && c.uses < maxUses) {
      c.uses++;
      return c;
    }
    this.rotating ??= (async () => {
      const { plaintext, wrapped } = await this.options.wrapper.generate();
      const id = randomUUID();
      // Stored (committed) before any ciphertext can reference it.
      await this.options.store.save({ dataKeyId: id, wrappedKey: wrapped, wrappingKey: this.options.wrapper.name });
      this.current = { id, key: plaintext, createdAt: this.now(), uses: 0 };
      return this.current;
    })().finally(() => {
      this.rotating = undefined;
    });
    const k = await this.rotating;
    if (this.current) this.current.uses++;
    return k;
  }
}

/** Reads the local 32-byte key: raw bytes, or 64 hex characters, or base64 of 32 bytes. */
export function readLocalKey(file: string): Buffer {
  const raw = readFileSync(file);
  if (raw.length === 32) return raw;
  const text = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  const b64 = Buffer.from(text, 'base64');
  if (b64.length === 32) return b64;
  throw new Error(`PHI_LOCAL_KEY_FILE must hold 32 bytes (raw, hex or base64); ${file} does not`);
}

function derive(master: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), info, 32));
}

export function localMac(master: Buffer): MacSource {
  const key = derive(master, 'vitals-pipeline patient pseudonym v1');
  return { mac: async (message) => createHmac('sha256', key).update(message).digest() };
}

/** Local wrapping keys, one per purpose (the patient-id one unchanged, so existing local data stays readable). */
const LOCAL_WRAPPING_INFO: Readonly<Record<DataKeyPurpose, string>> = {
  [DataKeyPurpose.PATIENT_ID]: 'vitals-pipeline data key wrapping v1',
  [DataKeyPurpose.DEAD_LETTER]: 'vitals-pipeline dead-letter data key wrapping v1',
};

export function localWrapper(master: Buffer, purpose: DataKeyPurpose = DataKeyPurpose.PATIENT_ID): KeyWrapper {
  const wrapKey = derive(master, LOCAL_WRAPPING_INFO[purpose]);
  const aad = Buffer.from('data-key');
  return {
    name: purpose === DataKeyPurpose.PATIENT_ID ? 'local' : `local:${purpose}`,
    generate: async () => {
      const plaintext = randomBytes(32);
      return { plaintext, wrapped: aesGcmEncrypt(wrapKey, plaintext, aad) };
    },
    unwrap: async (wrapped) => aesGcmDecrypt(wrapKey, wrapped, aad),
  };
}

/** The slice of the KMS client we use (tests pass a fake). */
export interface KmsLike {
  send(command: GenerateMacCommand | GenerateDataKeyCommand | DecryptCommand): Promise<unknown>;
}


export function kmsMac(kms: KmsLike, keyArn: string): MacSource {
  return {
    mac: async (message) => {
      const out = (await kms.send(new GenerateMacCommand({ KeyId: keyArn, MacAlgorithm: 'HMAC_SHA_256', Message: message }))) as { Mac?: Uint8Array };
      if (!out.Mac) throw new Error('KMS GenerateMac returned no MAC');
      return Buffer.from(out.Mac);
    },
  };
}

/** Binds data keys to their purpose: KMS refuses to decrypt without the same context (and CloudTrail logs it). */
export function kmsWrapper(kms: KmsLike, keyArn: string, purpose: DataKeyPurpose = DataKeyPurpose.PATIENT_ID): KeyWrapper {
  const ENCRYPTION_CONTEXT = { purpose: ENCRYPTION_CONTEXT_PURPOSE[purpose] };
  return {
    name: keyArn,
    generate: async () => {
      const out = (await kms.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', EncryptionContext: ENCRYPTION_CONTEXT }))) as {
        Plaintext?: Uint8Array;
        CiphertextBlob?: Uint8Array;
      };
      if (!out.Plaintext || !out.CiphertextBlob) throw new Error('KMS GenerateDataKey returned no key');
      return { plaintext: Buffer.from(out.Plaintext), wrapped: Buffer.from(out.CiphertextBlob) };
    },
    unwrap: async (wrapped) => {
      const out = (await kms.send(new DecryptCommand({ KeyId: keyArn, CiphertextBlob: wrapped, EncryptionContext: ENCRYPTION_CONTEXT }))) as { Plaintext?: Uint8Array };
      if (!out.Plaintext) throw new Error('KMS Decrypt returned no key');
      return Buffer.from(out.Plaintext);
    },
  };
}

export type PhiProtectorSettings =
  | { readonly kind: 'kms'; readonly region: string; readonly phiKeyArn: string; readonly hmacKeyArn: string; readonly deadLetterKeyArn?: string }
  | { readonly kind: 'local'; readonly keyFile: string };

/** Chooses the implementation from the configuration. */
export function createPhiProtector(settings: PhiProtectorSettings, store: DataKeyStore, kms?: KmsLike): PatientIdentityProtector {
  if (settings.kind === 'local') {
    const master = readLocalKey(settings.keyFile);
    return new EnvelopeProtector({ mac: localMac(master), wrapper: localWrapper(master), store });
  }
  const client = kms ?? new KMSClient({ region: settings.region, maxAttempts: 4, retryMode: 'adaptive' });
  return new EnvelopeProtector({ mac: kmsMac(client, settings.hmacKeyArn), wrapper: kmsWrapper(client, settings.phiKeyArn), store });
}

/** A MAC source for protectors that must never compute pseudonyms (dead-letter payloads). */
const NO_PSEUDONYMS: MacSource = {
  mac: async (): Promise<Buffer> => {
    throw new Error('dead-letter payload protection computes no pseudonyms');
  },
};

/**
 * Envelope encryption of dead-letter payloads: its own KMS key (`deadLetterKeyArn`) and encryption
 * context, or its own local wrapping key.
 */
export function createDeadLetterProtector(settings: PhiProtectorSettings, store: DataKeyStore, kms?: KmsLike): PayloadProtector {
  if (settings.kind === 'local') {
    return new EnvelopeProtector({ mac: NO_PSEUDONYMS, wrapper: localWrapper(readLocalKey(settings.keyFile), DataKeyPurpose.DEAD_LETTER), store });
  }
  if (!settings.deadLetterKeyArn) throw new Error('createDeadLetterProtector needs deadLetterKeyArn (DEAD_LETTER_KMS_KEY_ARN)');
  const client = kms ?? new KMSClient({ region: settings.region, maxAttempts: 4, retryMode: 'adaptive' });
  return new EnvelopeProtector({ mac: NO_PSEUDONYMS, wrapper: kmsWrapper(client, settings.deadLetterKeyArn, DataKeyPurpose.DEAD_LETTER), store });
}
