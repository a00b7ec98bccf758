/** The quota lines of a docstring: `Quota:`, `Calls:` and `Metering:`. */
import { hostKey, parseHost, quotaUseOf } from '../../src/quota/declaration.js';
import { DocstringLineError } from '../../src/errors.js';

test('Quota: and Calls: lines give the quotas, deduplicated, and the estimate', () => {
  expect(quotaUseOf('Fetches prices.\n\nQuota: yahoo, fred, yahoo\nCalls: 39,000\n')).toEqual({
    quotas: ['yahoo', 'fred'],
    calls: 39_000,
  });
  expect(quotaUseOf('No quota here.')).toEqual({ quotas: [] });
});

test('Metering: manual switches automatic metering off; auto (the default) and no line leave it on', () => {
  expect(quotaUseOf('Quota: yahoo\nMetering: manual')).toEqual({ quotas: ['yahoo'], metering: 'manual' });
  expect(quotaUseOf('# Quota: yahoo\n# metering:  Manual ')).toEqual({ quotas: ['yahoo'], metering: 'manual' });
  expect(quotaUseOf('Quota: yahoo\nMetering: auto')).toEqual({ quotas: ['yahoo'] });
  expect(quotaUseOf('Quota: yahoo')).toEqual({ quotas: ['yahoo'] });
});

test.each([
  [
    'an unknown mode',
    'Quota: yahoo\nMetering: off',
    'malformed line "Metering: off": write Metering: manual (or auto)',
  ],
  ['no mode', 'Quota: yahoo\nMetering:', 'malformed line "Metering:"'],
  ['no Quota: line', 'Metering: manual', '"Metering: manual" without a Quota: line'],
])('a Metering: line with %s is refused', (_name, text, message) => {
  expect(() => quotaUseOf(text)).toThrow(DocstringLineError);
  expect(() => quotaUseOf(text)).toThrow(message);
});

test('hosts: names, host:port, and IPv6 addresses in brackets; a bare IPv6 address is told to use brackets', () => {
  expect(parseHost('API.example.com:8443')).toBe('api.example.com:8443');
  expect(parseHost('[::1]:8080')).toBe('[::1]:8080');
  expect(parseHost('[2001:DB8::1]')).toBe('[2001:db8::1]');
  expect(hostKey('[::1]:8080')).toBe('::1:8080');
  expect(() => parseHost('::1')).toThrow('write an IPv6 address in brackets');
  expect(() => parseHost('[::g]:80')).toThrow('is not a host');
  expect(() => parseHost('[::1]:70000')).toThrow('is not a host');
});
