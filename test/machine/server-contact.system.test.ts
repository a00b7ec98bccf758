/**
 * A worker renews its runs' leases as of its last contact with the server: its probes, and the calls
 * its runs make. A real server and worker, whose probes go through a link that is down while its tasks
 * and heartbeats go through a link that works: the state of a machine whose link has just come back.
 */
import { NativeConnection } from '@temporalio/worker';
import { watchServerContact } from '../../src/machine/server-contact.js';
import { batchSummary } from '../../src/batch-client/index.js';
import { createStagedWorker } from '../../src/worker/main.js';
import { cuttableProxy } from '../helpers/cuttable-proxy.js';
import { until } from '../helpers/processes.js';
import { readJournal, tempDir, tempExperimentsDir, writeScript } from '../helpers/scripts.js';
import { batchIn, startBatch, useTestServer } from '../helpers/temporal.js';

const server = useTestServer();
const ADOPT_WINDOW_MS = 8_000;

test(
  'a run started while the last answer to a probe is older than the adoption window is not stopped as ' +
    'abandoned: the acknowledged start counts as contact',
  async () => {
    const { dir, journal } = await tempExperimentsDir('stale-probe');
    await writeScript(dir, 'exp1_short', journal, { body: 'sleep 1' });
    const { taskQueue, state } = await batchIn(dir, { maxRetries: 0, heartbeatTimeoutMs: 2_000, killGraceMs: 1_000 });
    const probeLink = await cuttableProxy(server.env.address);
    const probeConnection = await NativeConnection.connect({ address: probeLink.address });
    const contact = watchServerContact(probeConnection);
    await probeLink.cut();
    await until(
      () => Date.now() - contact.lastContactAt() > ADOPT_WINDOW_MS + 1_000,
      30_000,
      'the probes to fall behind',
    );
    const worker = await createStagedWorker({
      connection: server.env.nativeConnection,
      namespace: server.env.namespace,
      taskQueue,
      slots: 1,
      contact,
      adoptWindowMs: ADOPT_WINDOW_MS,
      runsRoot: await tempDir('runs-stale-probe'),
      allowedRoots: [dir],
    });
    const starts = async () => (await readJournal(journal)).filter((e) => e.event === 'start');

    try {
      const handle = await startBatch(server.env, state);
      const summary = await worker.runUntil(async () => {
        const endedOrStartedAgain = async () =>
          (await readJournal(journal)).some((e) => e.event === 'end') || (await starts()).length > 1;
        await until(endedOrStartedAgain, 60_000, 'the run to end, or to start again');
        return (await starts()).length === 1 ? batchSummary(handle) : undefined;
      });

      expect(await starts()).toHaveLength(1);
      expect(summary?.experiments[0]).toMatchObject({ status: 'completed', attempts: 1 });
    } finally {
      await probeConnection.close();
    }
  },
  120_000,
);
