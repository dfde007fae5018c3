import { formatDateParam, isValidTimestamp, normaliseTimestamp, toDate } from './timestamps';

describe('normaliseTimestamp', () => {
  it.each([
    ['2017-02-07T17:29:24.740802Z', '2017-02-07T17:29:24.740Z'],
    ['2018-03-06T00:00:00', '2018-03-06T00:00:00.000Z'],
    ['2019-07-24T11:29:47.414+00:00', '2019-07-24T11:29:47.414Z'],
    ['2019-07-19T17:28:37.798+01:00', '2019-07-19T16:28:37.798Z'],
    ['2018-09-17T00:00:00+01:00', '2018-09-16T23:00:00.000Z'],
    ['2020-05-24T15:44:40.077Z', '2020-05-24T15:44:40.077Z'],
    ['2017-01-28', '2017-01-28T00:00:00.000Z'],
    ['9999-12-31T00:00:00+00:00', '9999-12-31T00:00:00.000Z'],
    ['2020-12-07 12:34:56Z', '2020-12-07T12:34:56.000Z'],
    ['2020-12-07T12:34Z', '2020-12-07T12:34:00.000Z'],
    ['2020-12-07T12:34:56-0530', '2020-12-07T18:04:56.000Z'],
    ['2020-12-07T12:34:56+02', '2020-12-07T10:34:56.000Z'],
    ['2020-12-07T12:34:56.5Z', '2020-12-07T12:34:56.500Z'],
  ])('%s -> %s', (input, expected) => {
    expect(normaliseTimestamp(input)).toBe(expected);
  });

  it.each(['2017-02-247T17:29:24.740802Z', '2021-02-30', '2021-13-01T00:00:00Z', 'yesterday', '', '2020-01-01T25:00:00Z'])(
    'keeps unparseable %j verbatim',
    (input) => {
      expect(normaliseTimestamp(input)).toBe(input);
      expect(isValidTimestamp(input)).toBe(false);
      expect(toDate(input)).toBeUndefined();
    },
  );

  it('toDate gives a Date for valid values', () => {
    expect(toDate('2018-03-06T00:00:00')?.toISOString()).toBe('2018-03-06T00:00:00.000Z');
    expect(toDate(undefined)).toBeUndefined();
  });
});

describe('formatDateParam', () => {
  it('formats Dates as the UTC calendar date', () => {
    expect(formatDateParam(new Date('2024-03-01T23:30:00Z'), 'from')).toBe('2024-03-01');
  });
  it('passes valid strings through', () => {
    expect(formatDateParam('2024-03-01', 'from')).toBe('2024-03-01');
    expect(formatDateParam('2018-02-18T00:00:00', 'to')).toBe('2018-02-18T00:00:00');
  });
  it('rejects garbage and invalid dates', () => {
    expect(() => formatDateParam('01/03/2024', 'from')).toThrow(TypeError);
    expect(() => formatDateParam(new Date('nope'), 'to')).toThrow(TypeError);
  });
});
