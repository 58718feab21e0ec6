import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

// The import graph shows the boundary: shared adapters depend on no program, and no program reaches
// into another program's folder (they meet in src/adapters, src/pipeline and src/schema). The local
// runner is the one composer: it hosts the ingest server and the HL7 gateway in-process (processors run
// as child processes of the built entry point).
const SRC = join(__dirname, '..', '..', 'src');
const PROGRAMS = ['processor', 'ingest', 'db', 'local', 'hl7', 'fhir-api'];
const COMPOSES: Readonly<Record<string, readonly string[]>> = { local: ['ingest', 'hl7'] };

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The top-level src folders a file imports from, by relative specifier. */
function importedFolders(file: string): string[] {
  const specs = [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => relative(SRC, normalize(join(dirname(file), s))).split('/')[0]!);
}

function crossings(folder: string, forbidden: readonly string[]): string[] {
  return sourceFiles(join(SRC, folder)).flatMap((f) => importedFolders(f).filter((d) => forbidden.includes(d)).map((d) => `${relative(SRC, f)} -> ${d}/`));
}

test('shared adapters import no program folder', () => {
  expect(crossings('adapters', PROGRAMS)).toEqual([]);
});

test.each(PROGRAMS)('%s imports no other program folder', (program) => {
  expect(crossings(program, PROGRAMS.filter((p) => p !== program && !(COMPOSES[program] ?? []).includes(p)))).toEqual([]);
});

test('the scan sees real imports (the processor imports the shared adapters)', () => {
  expect(sourceFiles(join(SRC, 'processor')).flatMap(importedFolders)).toContain('adapters');
});
