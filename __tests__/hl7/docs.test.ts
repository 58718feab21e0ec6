import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OBSERVATION_CODES, UNIT_CODES } from '../../src/hl7/codes';

const design = readFileSync(join(__dirname, '..', '..', 'docs', 'design.md'), 'utf8');
const table = design.slice(design.indexOf('**Supported codes and units.**'), design.indexOf('Any other code with a value'));

test('the design doc lists every supported observation code', () => {
  expect(OBSERVATION_CODES.filter((c) => !table.includes(c.code) || (c.system === 'MDC' && !table.includes(c.name))).map((c) => c.code)).toEqual([]);
});

test('the design doc lists every supported unit, MDC and UCUM', () => {
  const missing = UNIT_CODES.flatMap((u) => [String(u.mdcCode), u.mdcName, ...u.ucum.map((x) => `\`${x}\``)]).filter((x) => !table.includes(x));
  expect(missing).toEqual([]);
});
