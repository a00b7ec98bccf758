/** `xargs -P`: the floor, a plain fork-and-wait with no queue at all. */
import { execa } from 'execa';
import { makeExperiments, readTimeline } from '../timeline.js';
import type { BenchSystem } from './system.js';

export const xargs: BenchSystem = {
  column: 'xargs -P',
  async run(name, count, seconds, concurrency) {
    const { dir, journal } = await makeExperiments(`${name}-xargs`, count, seconds);
    await execa('sh', ['-c', `ls "${dir}"/exp* | xargs -P${concurrency} -I{} env STAGED_EXPERIMENT={} {}`]);
    return { timeline: await readTimeline(journal) };
  },
};
