import { latin1Only } from '../../src/worker/workflow-bundle.js';

describe('latin1Only', () => {
  const code = [
    '// a comment with — and ≤',
    'const message = "calls must be an integer ≥ 1 — café";',
    'const template = `${message} → 😀`;',
    'const pattern = /[—–]|😀/u;',
    '[message, template, pattern.test("a – b"), pattern.test("😀")]',
  ].join('\n');

  test('leaves only Latin-1 characters', () => {
    expect(Math.max(...[...latin1Only(code)].map((char) => char.charCodeAt(0)))).toBeLessThanOrEqual(0xff);
  });

  test('the code means the same', () => {
    expect(eval(latin1Only(code))).toEqual(eval(code));
    expect(eval(latin1Only(code))[0]).toBe('calls must be an integer ≥ 1 — café');
  });
});
