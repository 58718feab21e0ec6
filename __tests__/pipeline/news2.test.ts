import { roundToResolution, scoreNews2, type News2Input } from '../../src/pipeline/news2';

/** Every parameter in its 0 band: RR 16, SpO2 98 (scale 1), air, systolic 120, pulse 70, alert, 37.0 °C. */
const NORMAL: News2Input = {
  respirationRate: 16,
  spo2: 98,
  spo2Scale: 1,
  onSupplementalOxygen: false,
  systolicBp: 120,
  pulse: 70,
  consciousness: 'A',
  temperatureC: 37,
};

function score(over: Partial<News2Input>) {
  return scoreNews2({ ...NORMAL, ...over });
}

describe('scoreNews2 against the RCP 2017 chart', () => {
  it('scores a set of normal observations 0, low risk', () => {
    expect(score({})).toEqual({
      total: 0,
      risk: 'low',
      parameters: { respirationRate: 0, spo2: 0, onSupplementalOxygen: 0, systolicBp: 0, pulse: 0, consciousness: 0, temperatureC: 0 },
    });
  });

  // Each band edge on both sides: [value, sub-score].
  it.each([
    [0, 3], [8, 3], [9, 1], [11, 1], [12, 0], [20, 0], [21, 2], [24, 2], [25, 3], [60, 3],
  ])('scores respiration rate %p as %p', (value, expected) => {
    expect(score({ respirationRate: value }).parameters.respirationRate).toBe(expected);
  });

  it.each([
    [0, 3], [91, 3], [92, 2], [93, 2], [94, 1], [95, 1], [96, 0], [100, 0],
  ])('scores SpO2 %p on scale 1 as %p', (value, expected) => {
    expect(score({ spo2: value }).parameters.spo2).toBe(expected);
    expect(score({ spo2: value, onSupplementalOxygen: true }).parameters.spo2).toBe(expected);
  });

  it.each([
    [83, 3], [84, 2], [85, 2], [86, 1], [87, 1], [88, 0], [92, 0], [93, 0], [96, 0], [97, 0], [100, 0],
  ])('scores SpO2 %p on scale 2 breathing air as %p', (value, expected) => {
    expect(score({ spo2: value, spo2Scale: 2, onSupplementalOxygen: false }).parameters.spo2).toBe(expected);
  });

  it.each([
    [83, 3], [84, 2], [85, 2], [86, 1], [87, 1], [88, 0], [92, 0], [93, 1], [94, 1], [95, 2], [96, 2], [97, 3], [100, 3],
  ])('scores SpO2 %p on scale 2 on oxygen as %p', (value, expected) => {
    expect(score({ spo2: value, spo2Scale: 2, onSupplementalOxygen: true }).parameters.spo2).toBe(expected);
  });

  it.each([
    [false, 0], [true, 2],
  ])('scores supplemental oxygen %p as %p', (value, expected) => {
    expect(score({ onSupplementalOxygen: value }).parameters.onSupplementalOxygen).toBe(expected);
  });

  it.each([
    [20, 3], [90, 3], [91, 2], [100, 2], [101, 1], [110, 1], [111, 0], [219, 0], [220, 3], [300, 3],
  ])('scores systolic pressure %p as %p', (value, expected) => {
    expect(score({ systolicBp: value }).parameters.systolicBp).toBe(expected);
  });

  it.each([
    [0, 3], [40, 3], [41, 1], [50, 1], [51, 0], [90, 0], [91, 1], [110, 1], [111, 2], [130, 2], [131, 3], [300, 3],
  ])('scores pulse %p as %p', (value, expected) => {
    expect(score({ pulse: value }).parameters.pulse).toBe(expected);
  });

  it.each([
    ['A', 0], ['C', 3], ['V', 3], ['P', 3], ['U', 3],
  ] as const)('scores consciousness %p as %p', (value, expected) => {
    expect(score({ consciousness: value }).parameters.consciousness).toBe(expected);
  });

  it.each([
    [20, 3], [35.0, 3], [35.1, 1], [36.0, 1], [36.1, 0], [38.0, 0], [38.1, 1], [39.0, 1], [39.1, 2], [42, 2],
  ])('scores temperature %p °C as %p', (value, expected) => {
    expect(score({ temperatureC: value }).parameters.temperatureC).toBe(expected);
  });
});

describe('scoreNews2 rounding of values between the chart bands', () => {
  it.each([
    ['respirationRate', 8.49, 3], ['respirationRate', 8.5, 1], ['respirationRate', 11.49, 1], ['respirationRate', 11.5, 0],
    ['respirationRate', 20.5, 2], ['respirationRate', 24.5, 3],
    ['spo2', 91.49, 3], ['spo2', 91.5, 2], ['spo2', 95.5, 0],
    ['systolicBp', 90.49, 3], ['systolicBp', 90.5, 2], ['systolicBp', 219.5, 3],
    ['pulse', 40.5, 1], ['pulse', 130.49, 2], ['pulse', 130.5, 3],
    ['temperatureC', 35.04, 3], ['temperatureC', 35.05, 1], ['temperatureC', 36.04, 1], ['temperatureC', 36.05, 0],
    ['temperatureC', 38.04, 0], ['temperatureC', 38.05, 1], ['temperatureC', 39.04, 1], ['temperatureC', 39.05, 2],
  ] as const)('rounds %s %p to the chart resolution and scores it %p', (name, value, expected) => {
    expect(score({ [name]: value }).parameters[name]).toBe(expected);
  });

  it('rounds half away from zero even when arithmetic noise leaves the value just below the half', () => {
    const converted = ((93.83 - 32) * 5) / 9; // 34.349999999999994, i.e. 34.35 °C
    expect(converted * 10).toBeLessThan(343.5);
    expect(roundToResolution(converted, 1)).toBe(34.4);
    expect(roundToResolution(36.05, 1)).toBe(36.1);
    expect(roundToResolution(11.5, 0)).toBe(12);
    expect(roundToResolution(11.4999, 0)).toBe(11);
  });
});

describe('scoreNews2 clinical risk', () => {
  it('rates a total of 4 without a single 3 as low', () => {
    const r = score({ pulse: 111, respirationRate: 21 });
    expect([r.total, r.risk]).toEqual([4, 'low']);
  });

  it('rates a total of 3 made of one parameter scoring 3 as low-medium', () => {
    const r = score({ consciousness: 'V' });
    expect([r.total, r.risk]).toEqual([3, 'low-medium']);
  });

  it('rates a total of 4 including a single 3 as low-medium', () => {
    const r = score({ consciousness: 'V', temperatureC: 38.1 });
    expect([r.total, r.risk]).toEqual([4, 'low-medium']);
  });

  it('rates a total of 5 as medium', () => {
    const r = score({ pulse: 111, respirationRate: 21, temperatureC: 38.1 });
    expect([r.total, r.risk]).toEqual([5, 'medium']);
  });

  it('rates a total of 5 including a single 3 as medium, not low-medium', () => {
    const r = score({ consciousness: 'V', pulse: 111 });
    expect([r.total, r.risk]).toEqual([5, 'medium']);
  });

  it('rates a total of 6 as medium', () => {
    const r = score({ pulse: 111, respirationRate: 21, temperatureC: 38.1, spo2: 95 });
    expect([r.total, r.risk]).toEqual([6, 'medium']);
  });

  it('rates a total of 7 as high', () => {
    const r = score({ pulse: 111, respirationRate: 21, temperatureC: 38.1, spo2: 95, systolicBp: 101 });
    expect([r.total, r.risk]).toEqual([7, 'high']);
  });

  it('adds 2 for supplemental oxygen to the total', () => {
    const r = score({ onSupplementalOxygen: true, pulse: 111, respirationRate: 21 });
    expect([r.total, r.risk]).toEqual([6, 'medium']);
  });

  it('reaches the maximum total of 20 for the worst observations', () => {
    const r = scoreNews2({
      respirationRate: 30, spo2: 80, spo2Scale: 1, onSupplementalOxygen: true,
      systolicBp: 80, pulse: 140, consciousness: 'U', temperatureC: 34,
    });
    expect([r.total, r.risk]).toEqual([20, 'high']);
  });
});

describe('scoreNews2 input validation', () => {
  it.each(['respirationRate', 'spo2', 'systolicBp', 'pulse', 'temperatureC'] as const)(
    'throws a RangeError naming %s when it is not a finite number',
    (name) => {
      expect(() => score({ [name]: Number.NaN })).toThrow(new RangeError(`${name} must be a finite number`));
      expect(() => score({ [name]: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    },
  );

  it('throws a RangeError for an SpO2 scale other than 1 or 2', () => {
    expect(() => score({ spo2Scale: 3 as unknown as 1 })).toThrow(/spo2Scale must be 1 or 2/);
  });

  it('throws a RangeError for an unknown consciousness code', () => {
    expect(() => score({ consciousness: 'X' as unknown as 'A' })).toThrow(/consciousness must be one of/);
  });

  it('throws a RangeError for a non-boolean supplemental oxygen flag', () => {
    expect(() => score({ onSupplementalOxygen: 'yes' as unknown as boolean })).toThrow(/onSupplementalOxygen must be a boolean/);
  });
});
