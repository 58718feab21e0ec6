/**
 * docs/compliance.md stays true: every test it names exists with that title, every HIPAA row names
 * at least one, and the conformance-pack table's statuses and counts add up.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const doc = readFileSync(join(ROOT, 'docs', 'compliance.md'), 'utf8');
const section = (start: string, end: string): string => doc.split(start)[1]?.split(end)[0] ?? '';
const rows = (text: string): string[][] =>
  text.split('\n').filter((l) => l.startsWith('| ') && !/^\| (safeguard|rule|finding) \|/.test(l) && !l.startsWith('| ---')).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));

/** `__tests__/<file>: <title>` references. */
const TEST_REFERENCE = /`(__tests__\/[^`:]+\.test\.ts): ([^`]+)`/g;
const references = [...doc.matchAll(TEST_REFERENCE)].map((m) => ({ file: m[1] as string, title: m[2] as string }));

/** Test titles as written in the file: it('...') / test('...') with ' or " or ` quotes (escapes undone). */
function titlesOf(file: string): string[] {
  const source = readFileSync(join(ROOT, file), 'utf8');
  return [...source.matchAll(/\b(?:it|test)(?:\.each\([^)]*\))?\(\s*(['"`])((?:\\.|(?!\1).)*)\1/g)].map((m) => (m[2] as string).replace(/\\(.)/g, '$1'));
}

describe('docs/compliance.md', () => {
  it('names tests, and every test it names exists with that title', () => {
    expect(references.length).toBeGreaterThan(20);
    const missing = references.filter(({ file, title }) => !existsSync(join(ROOT, file)) || !titlesOf(file).includes(title));
    expect(missing).toEqual([]);
  });

  it('gives every HIPAA safeguard row at least one proving test', () => {
    const safeguards = rows(section('## Technical safeguards', '## AWS Config'));
    expect(safeguards.map((r) => r[0]?.split(' ')[0])).toEqual([
      '164.312(a)(1)', '164.312(a)(2)(i)', '164.312(a)(2)(ii)', '164.312(a)(2)(iii)', '164.312(a)(2)(iv)', '164.312(b)',
      '164.312(c)(1)', '164.312(c)(2)', '164.312(d)', '164.312(e)(1)', '164.312(e)(2)(i)', '164.312(e)(2)(ii)',
      '164.308(a)(7)(ii)(A)', '164.308(a)(7)(ii)(B)', '164.308(a)(7)(ii)(C)',
    ]);
    for (const row of safeguards) expect(row[2]).toMatch(TEST_REFERENCE);
  });

  it('marks every conformance-pack rule compliant, exception or n.a., gives each exception a reason, and states the true counts', () => {
    const rules = rows(section('## AWS Config', '## Issue 9'));
    const statuses = rules.map((r) => r[1]);
    expect(statuses.every((s) => s === 'compliant' || s === 'exception' || s === 'n.a.')).toBe(true);
    expect(new Set(rules.map((r) => r[0])).size).toBe(rules.length);
    for (const r of rules) expect((r[2] ?? '').length).toBeGreaterThan(r[1] === 'exception' ? 40 : 3);
    const count = (s: string): number => statuses.filter((x) => x === s).length;
    expect(doc).toContain(`Counts: ${count('compliant')} compliant, ${count('exception')} exception, ${count('n.a.')} n.a. (${rules.length} rules).`);
  });
});
