import { DEFAULT_RUN_OPTIONS, parseArgs, UsageError } from '../../src/local/args';

describe('runner options', () => {
  it('defaults to the mission peak of 1,000 events/s until stopped', () => {
    expect(parseArgs([])).toEqual(DEFAULT_RUN_OPTIONS);
    expect(DEFAULT_RUN_OPTIONS.rate).toBe(1000);
    expect(DEFAULT_RUN_OPTIONS.durationSec).toBeNull();
  });

  it('accepts --flag value and --flag=value', () => {
    const o = parseArgs(['--rate', '200', '--duration=8', '--patients', '50', '--malformed-share', '0.02', '--duplicate-share=0.05', '--processors', '1', '--state-dir', '.tmp/x']);
    expect(o).toMatchObject({ rate: 200, durationSec: 8, patients: 50, malformedShare: 0.02, duplicateShare: 0.05, processors: 1, stateDir: '.tmp/x' });
  });

  it('keeps state between runs unless --fresh is given, which takes no value', () => {
    expect(parseArgs([]).fresh).toBe(false);
    expect(parseArgs(['--fresh', '--rate', '200'])).toMatchObject({ fresh: true, rate: 200 });
  });

  it('rejects a rate of zero, naming the option, rule and value', () => {
    expect(() => parseArgs(['--rate', '0'])).toThrow(/--rate must be a number from 1 to 100000; received "0"/);
  });

  it('rejects a fractional number of processors', () => {
    expect(() => parseArgs(['--processors', '1.5'])).toThrow(/--processors must be a whole number from 1 to 16; received "1.5"/);
  });

  it('rejects a missing value', () => {
    expect(() => parseArgs(['--duration'])).toThrow(/--duration must be a number from 1 to 604800; received null/);
  });

  it('rejects an unknown option', () => {
    expect(() => parseArgs(['--rat', '5'])).toThrow(/unknown option "--rat"/);
  });

  it('reports every problem at once', () => {
    try {
      parseArgs(['--rate', 'x', '--malformed-share', '0.9']);
      throw new Error('expected a UsageError');
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(/--rate must be/);
      expect((err as Error).message).toMatch(/--malformed-share must be a number from 0 to 0.5; received "0.9"/);
    }
  });
});

describe('--hl7-share', () => {
  it('sends a fifth of the traffic as HL7 by default, any share from 0 to 1 when given', () => {
    expect(parseArgs([]).hl7Share).toBe(0.2);
    expect(parseArgs(['--hl7-share', '0']).hl7Share).toBe(0);
    expect(parseArgs(['--hl7-share=1']).hl7Share).toBe(1);
  });

  it('refuses a share outside 0..1, naming the option, the rule and the value', () => {
    expect(() => parseArgs(['--hl7-share', '1.5'])).toThrow(/--hl7-share must be a number from 0 to 1; received "1.5"/);
  });
});

test('--escalation-seconds sets the local escalation time (20 s by default) and is range-checked', () => {
  expect(DEFAULT_RUN_OPTIONS.escalationSec).toBe(20);
  expect(parseArgs(['--escalation-seconds', '5']).escalationSec).toBe(5);
  expect(() => parseArgs(['--escalation-seconds', '0'])).toThrow(/--escalation-seconds must be a whole number from 1 to 86400/);
});
