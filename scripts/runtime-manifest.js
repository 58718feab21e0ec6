// @ts-check
/**
 * The runtime manifest of the processor image: package.json and package-lock.json reduced to the
 * production dependency tree (`node scripts/runtime-manifest.js <from-dir> <to-dir>`, run by the
 * Dockerfile). The image installs from these, so a change to dev dependencies, scripts or other
 * tooling settings (a cdktf or provider bump: an infrastructure-only change) leaves the image as it
 * was, and the image holds no record of the dev tree. Plain JavaScript: it runs in the build stage
 * before anything is compiled.
 */
'use strict';
const { mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

/** package.json fields the runtime needs: identity, module type, engines and the production dependencies. */
const KEPT_FIELDS = ['name', 'version', 'private', 'type', 'engines', 'dependencies'];

/**
 * @param {Record<string, any>} pkg parsed package.json
 * @param {Record<string, any>} lock parsed package-lock.json (lockfileVersion 2 or 3)
 * @returns {{ pkg: Record<string, any>, lock: Record<string, any> }}
 */
function runtimeManifest(pkg, lock) {
  if (!lock.packages || !(lock.lockfileVersion >= 2)) {
    throw new Error(`package-lock.json must have lockfileVersion 2 or 3 (a "packages" map); received lockfileVersion ${JSON.stringify(lock.lockfileVersion)}`);
  }
  const runtimePkg = Object.fromEntries(KEPT_FIELDS.filter((k) => pkg[k] !== undefined).map((k) => [k, pkg[k]]));
  /** @type {Record<string, any>} */
  const packages = {};
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '') {
      const root = Object.fromEntries(['name', 'version', 'license', 'engines', 'dependencies'].filter((k) => entry[k] !== undefined).map((k) => [k, entry[k]]));
      packages[path] = root;
    } else if (entry.dev !== true) {
      // devOptional entries stay: an optional dependency of a production package.
      packages[path] = entry;
    }
  }
  const runtimeLock = { name: lock.name, version: lock.version, lockfileVersion: lock.lockfileVersion, requires: lock.requires, packages };
  return { pkg: runtimePkg, lock: runtimeLock };
}

module.exports = { runtimeManifest };

if (require.main === module) {
  const [from, to] = process.argv.slice(2);
  if (!from || !to) {
    process.stderr.write('usage: node scripts/runtime-manifest.js <dir with package.json and package-lock.json> <output dir>\n');
    process.exit(2);
  }
  const read = (/** @type {string} */ name) => JSON.parse(readFileSync(join(from, name), 'utf8'));
  const { pkg, lock } = runtimeManifest(read('package.json'), read('package-lock.json'));
  mkdirSync(to, { recursive: true });
  writeFileSync(join(to, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  writeFileSync(join(to, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  process.stdout.write(`runtime manifest: ${Object.keys(pkg.dependencies ?? {}).length} dependencies, ${Object.keys(lock.packages).length - 1} locked packages\n`);
}
