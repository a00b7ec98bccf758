/** The cluster's dynamic config (deploy/dynamicconfig/staged.yaml) is the dev server's: priority works the same. */
import { readFile } from 'node:fs/promises';
import { DYNAMIC_CONFIG_FILE } from '../../src/cluster/layout.js';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../../src/server/dev-server.js';

/** `key:` then `  - value: v`, the only shape the file uses. */
async function yamlSettings(): Promise<Record<string, string>> {
  const text = await readFile(DYNAMIC_CONFIG_FILE, 'utf8');
  return Object.fromEntries(
    [...text.matchAll(/^([\w.]+):\n\s+- value: (\S+)$/gm)].map(([, key, value]) => [key, value]),
  );
}

test('the cluster sets every dynamic config value that staged gives the dev server', async () => {
  const devServer = DEV_SERVER_DYNAMIC_CONFIG.filter((arg) => arg !== '--dynamic-config-value').map((arg) =>
    arg.split('='),
  );
  expect(devServer.length).toBeGreaterThan(0);
  const cluster = await yamlSettings();
  for (const [key, value] of devServer) expect([key, cluster[key]]).toEqual([key, value]);
});

test("the cluster sets the Temporal CLI's own dev-server defaults too (temporal CLI v1.5.1)", async () => {
  expect(await yamlSettings()).toMatchObject({
    'system.forceSearchAttributesCacheRefreshOnRead': 'true',
    'frontend.persistenceMaxQPS': '10000',
    'history.persistenceMaxQPS': '45000',
  });
});
