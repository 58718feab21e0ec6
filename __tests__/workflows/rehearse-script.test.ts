/**
 * scripts/rehearse.sh where it cannot run: a SKIPPED banner and a SKIPPED summary, never a silent
 * pass. (The rehearsal itself runs in `npm test`, after jest.)
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** A copy of the script in a scratch repository, with a few system tools and the named stand-ins on PATH. */
function rehearse(env: Record<string, string>, stubs: readonly string[]): { status: number | null; stdout: string; summary: string } {
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  const root = mkdtempSync(join(ROOT, '.tmp', 'rehearse-sh-'));
  roots.push(root);
  mkdirSync(join(root, 'scripts'));
  mkdirSync(join(root, 'bin'));
  copyFileSync(join(ROOT, 'scripts', 'rehearse.sh'), join(root, 'scripts', 'rehearse.sh'));
  for (const stub of stubs) {
    writeFileSync(join(root, 'bin', stub), '#!/bin/sh\nexit 0\n');
    chmodSync(join(root, 'bin', stub), 0o755);
  }
  for (const tool of ['bash', 'dirname', 'date', 'rm', 'mkdir']) {
    const found = spawnSync('/bin/bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (found === '') throw new Error(`this test needs ${tool} on PATH`);
    symlinkSync(found, join(root, 'bin', tool));
  }
  const result = spawnSync('/bin/bash', [join(root, 'scripts', 'rehearse.sh')], {
    cwd: root, encoding: 'utf8', env: { PATH: join(root, 'bin'), ...env }, timeout: 30_000,
  });
  const summaryFile = join(root, 'cdktf.out', 'rehearsal', 'summary.txt');
  return { status: result.status, stdout: result.stdout, summary: existsSync(summaryFile) ? readFileSync(summaryFile, 'utf8') : '' };
}

describe('scripts/rehearse.sh without its tools', () => {
  it('prints a SKIPPED banner and a SKIPPED summary without terraform', () => {
    const run = rehearse({}, []);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/#{20,}\n## SKIPPED: deploy rehearsal \(terraform is not on PATH\)\n#{20,}/);
    expect(run.summary).toBe('rehearsal: SKIPPED (terraform is not on PATH)\n');
  });

  it('prints a SKIPPED banner without the provider mirror', () => {
    const run = rehearse({ TF_PLUGIN_MIRROR: '/nonexistent/tf-plugins' }, ['terraform']);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/## SKIPPED: deploy rehearsal \(no hashicorp\/aws provider mirror at \/nonexistent\/tf-plugins/);
    expect(run.summary).toMatch(/^rehearsal: SKIPPED/);
  });
});
