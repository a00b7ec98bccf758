/** Jest's order of test files, the unit tier's before the system tier's. */
import TestSequencer from '@jest/test-sequencer';

const Sequencer = TestSequencer.default ?? TestSequencer;
const tierOf = (test) => (test.context.config.displayName?.name === 'unit' ? 0 : 1);

export default class UnitTierFirst extends Sequencer {
  async sort(tests) {
    const ordered = await super.sort(tests);
    return [...ordered].sort((a, b) => tierOf(a) - tierOf(b));
  }
}
