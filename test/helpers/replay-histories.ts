/**
 * Replays every history in a directory against the built workflow bundle; prints one line per
 * history and exits 1 if any failed. Histories are stored as binary protobuf (`.bin`): the SDK's
 * JSON reader refuses what the client's JSON writer produces. A plain Node process, not in jest.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_PATH } from '../../src/worker/workflow-bundle.js';

const { History } = proto.temporal.api.history.v1;

export function encodeHistory(history: proto.temporal.api.history.v1.IHistory): Uint8Array {
  return History.encode(history).finish();
}

async function main(dir: string): Promise<number> {
  const files = (await readdir(dir)).filter((file) => file.endsWith('.bin'));
  const histories = await Promise.all(
    files.map(async (file) => ({
      workflowId: file.replace(/(@\d+)?\.bin$/, '').replaceAll('__', '/'),
      history: History.decode(await readFile(path.join(dir, file))),
    })),
  );
  let failed = 0;
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } },
    histories,
  )) {
    if (result.error) {
      failed++;
      console.log(`FAIL ${result.workflowId}: ${result.error.message.split('\n')[0]}`);
    } else {
      console.log(`OK ${result.workflowId}`);
    }
  }
  return failed ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv[2]).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(2);
    },
  );
}
