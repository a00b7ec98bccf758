/** The `[WAIT]` line of `submit`/`watch` while the Temporal server is out of reach. */
import { unavailableCause } from '../../src/cli/follow.js';

test('the cause is taken out of gRPC details that end in an empty resolution note', () => {
  const details =
    'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:7500. Resolution note: ';
  expect(unavailableCause(details)).toBe('connect ECONNREFUSED 127.0.0.1:7500');
});

test('details of another shape are kept, without an empty resolution note', () => {
  expect(unavailableCause('Connection dropped')).toBe('Connection dropped');
  expect(unavailableCause('No connection established. Resolution note: ')).toBe('No connection established');
  expect(unavailableCause('Last error: Error: getaddrinfo ENOTFOUND nohost. Resolution note: DNS')).toBe(
    'getaddrinfo ENOTFOUND nohost. Resolution note: DNS',
  );
});
