/**
 * Slurm (`--peers slurm`): a single-node cluster on this machine, slurmctld + slurmd + munged of its own in a
 * scratch dir on ports of its own, cgroup-free (proctrack/linuxproc, task/none). The node declares SLURM_CPUS
 * CPUs and each job asks for SLURM_CPUS ÷ concurrency of them, so that exactly `concurrency` jobs run at once,
 * as `--max-concurrent`, `tsp -S` and `xargs -P` allow. Two columns: Slurm's default scheduler settings,
 * and TUNED_SCHEDULER's. One set of daemons runs at a time; they are stopped at the end, on failure and on Ctrl-C.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { freePort } from '../../src/server/dev-server-process.js';
import { makeExperiments, readTimeline, waitForEnds } from '../timeline.js';
import { ensureInstalled } from './install.js';
import { peerTimeoutMs, type BenchSystem } from './system.js';

/** Declared, not real: 20 is the bench's highest concurrency, and 1 and 5 divide it. */
const SLURM_CPUS = 20;
const PARTITION = 'bench';

/**
 * "Tuned": schedule at every submit and completion event without throttling or batching
 * (sched_min_interval=0, batch_sched_delay=0), consider the whole queue each time (default_queue_depth),
 * and run the backfill pass every second instead of every 30.
 */
export const TUNED_SCHEDULER = 'batch_sched_delay=0,sched_min_interval=0,default_queue_depth=1000,bf_interval=1';

/** util-linux's setpriv: the kernel kills a daemon when the bench dies, however it dies. */
const SETPRIV = '/usr/bin/setpriv';

interface SlurmDaemons {
  tuned: boolean;
  env: Record<string, string>;
  stop: () => Promise<void>;
}

/** The set of daemons running now, if any. */
let active: SlurmDaemons | undefined;

function slurmConf(scratch: string, host: string, ports: [number, number], tuned: boolean): string {
  const at = (name: string) => path.join(scratch, name);
  return [
    'ClusterName=stagedbench',
    `SlurmctldHost=${host}`,
    `SlurmctldPort=${ports[0]}`,
    `SlurmdPort=${ports[1]}`,
    'SlurmUser=root',
    'SlurmdUser=root',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${at('munge.socket')}`,
    `StateSaveLocation=${at('state')}`,
    `SlurmdSpoolDir=${at('spool')}`,
    `SlurmctldPidFile=${at('slurmctld.pid')}`,
    `SlurmdPidFile=${at('slurmd.pid')}`,
    `SlurmctldLogFile=${at('slurmctld.log')}`,
    `SlurmdLogFile=${at('slurmd.log')}`,
    // No cgroups in a container: track processes by parentage and bind nothing.
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'MpiDefault=none',
    'ReturnToService=2',
    // The node is what we declare (SLURM_CPUS), not the 2 cores slurmd finds.
    'SlurmdParameters=config_overrides',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_CPU',
    ...(tuned ? [`SchedulerParameters=${TUNED_SCHEDULER}`] : []),
    `NodeName=${host} CPUs=${SLURM_CPUS} State=UNKNOWN`,
    `PartitionName=${PARTITION} Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
    '',
  ].join('\n');
}

async function startDaemons(tuned: boolean): Promise<SlurmDaemons> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'staged-bench-slurm-'));
  const host = (await execa('hostname', ['-s'])).stdout.trim();
  await mkdir(path.join(scratch, 'state'));
  await mkdir(path.join(scratch, 'spool'));
  const conf = path.join(scratch, 'slurm.conf');
  await writeFile(conf, slurmConf(scratch, host, [await freePort(), await freePort()], tuned));
  const env = { SLURM_CONF: conf };
  const daemons: ResultPromise[] = [];
  const daemon = (program: string, args: string[]): void => {
    const [file, fileArgs] = existsSync(SETPRIV)
      ? [SETPRIV, ['--pdeathsig', 'KILL', program, ...args]]
      : [program, args];
    const child = execa(file, fileArgs, { env, stdio: 'ignore', reject: false });
    daemons.push(child);
  };
  const stop = async () => {
    for (const child of daemons.reverse()) {
      child.kill('SIGTERM');
      const exited = await Promise.race([child.then(() => true), delay(5_000).then(() => false)]);
      if (!exited) {
        child.kill('SIGKILL');
        await child;
      }
    }
    await rm(scratch, { recursive: true, force: true });
  };
  const daemonsSet: SlurmDaemons = { tuned, env, stop };
  active = daemonsSet;
  const socket = path.join(scratch, 'munge.socket');
  // munged as root needs --force; its key is the one Debian's package made.
  daemon('munged', [
    '--foreground',
    '--force',
    `--socket=${socket}`,
    `--pid-file=${path.join(scratch, 'munged.pid')}`,
    `--log-file=${path.join(scratch, 'munged.log')}`,
    `--seed-file=${path.join(scratch, 'munged.seed')}`,
  ]);
  for (let i = 0; i < 100 && !existsSync(socket); i++) await delay(100);
  daemon('slurmctld', ['-D', '-i']);
  daemon('slurmd', ['-D']);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const state = await execa('sinfo', ['-h', '-o', '%T'], { env, reject: false });
    if (state.stdout.trim() === 'idle') return daemonsSet;
    if (Date.now() > deadline)
      throw new Error(
        `Slurm's node did not come up in 60 s (sinfo: ${state.stdout || state.stderr}); logs in ${scratch}`,
      );
    await delay(250);
  }
}

/** The daemons for `tuned`, started when the running set is the other one (or none). */
async function daemonsFor(tuned: boolean): Promise<SlurmDaemons> {
  if (active?.tuned === tuned) return active;
  await stopSlurm();
  return startDaemons(tuned);
}

/** Stops the running daemons, if any, and removes their scratch dir. */
export async function stopSlurm(): Promise<void> {
  const running = active;
  active = undefined;
  await running?.stop();
}

/**
 * Slurm with its default or the tuned scheduler settings as a column, or undefined when it cannot be installed.
 * Calls `started` with a stop for the daemons before any start, so that a failure or Ctrl-C stops them too.
 */
export async function slurmPeer(
  tuned: boolean,
  started: (stop: () => Promise<void>) => void,
): Promise<BenchSystem | undefined> {
  if (!(await ensureInstalled('Slurm', ['slurmctld', 'slurmd', 'sbatch', 'munged'], ['slurm-wlm', 'munge'])))
    return undefined;
  started(stopSlurm);
  return {
    column: tuned ? 'Slurm tuned' : 'Slurm default',
    async run(name, count, seconds, concurrency) {
      if (SLURM_CPUS % concurrency !== 0)
        throw new Error(`Slurm's ${SLURM_CPUS} CPUs do not split ${concurrency} ways`);
      const { env } = await daemonsFor(tuned);
      const scontrol = (state: string) =>
        execa('scontrol', ['update', `PartitionName=${PARTITION}`, `State=${state}`], { env });
      const { dir, journal } = await makeExperiments(`${name}-slurm`, count, seconds);
      // The partition is down while the queue fills, so that sbatch's pace does not set the run's.
      await scontrol('DOWN');
      const sbatch = `sbatch --quiet -p ${PARTITION} -n 1 -c ${SLURM_CPUS / concurrency} -o /dev/null`;
      await execa('sh', ['-c', `for f in "${dir}"/exp*; do ${sbatch} --export=ALL,STAGED_EXPERIMENT="$f" "$f"; done`], {
        env,
      });
      await scontrol('UP');
      await waitForEnds(journal, count, peerTimeoutMs(count, seconds, concurrency));
      // The last jobs are still completing when they have stamped their end: the next run starts on an empty node.
      for (let i = 0; i < 120; i++) {
        const queue = await execa('squeue', ['-h'], { env, reject: false });
        if (queue.exitCode === 0 && queue.stdout.trim() === '') break;
        await delay(250);
      }
      return { timeline: await readTimeline(journal) };
    },
  };
}
