/** The user manual's table and the Grafana dashboard name only metrics staged records; the manual names them all. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { METRICS } from '../../src/model/metric-names.js';

const fromRoot = (file: string) => readFile(fileURLToPath(new URL(`../../../${file}`, import.meta.url)), 'utf8');
/** The Metrics section of docs/usage.md (elsewhere `staged_quota` is the Python module). */
const metricsSection = async () => /\n## Metrics\n[\s\S]*?\n## /.exec(await fromRoot('docs/usage.md'))![0];
const names: string[] = Object.values(METRICS).map((metric) => metric.name);
/** A histogram's series carry a suffix; the name without it is what was recorded. */
const recorded = (series: string) => series.replace(/_(bucket|count|sum)$/, '');

test.each([
  ['the user manual', metricsSection],
  ['the Grafana dashboard', () => fromRoot('deploy/grafana/staged.json')],
])('%s names only metrics staged records', async (_, read) => {
  const mentioned = new Set([...(await read()).matchAll(/\bstaged_[a-z_]+/g)].map((match) => match[0]));
  expect(mentioned.size).toBeGreaterThan(5);
  expect([...mentioned].map(recorded).filter((name) => !names.includes(name))).toEqual([]);
});

test("the user manual's table has a line for every metric", async () => {
  const manual = await metricsSection();
  expect(names.filter((name) => !manual.includes(`| \`${name}\``))).toEqual([]);
});
