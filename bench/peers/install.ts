/** Installs a peer's Debian package when its program is missing: as root with apt, else a message and a skip. */
import { execa } from 'execa';

async function found(program: string): Promise<boolean> {
  return (await execa('sh', ['-c', `command -v ${program}`], { reject: false })).exitCode === 0;
}

async function aptInstall(packages: string[]): Promise<boolean> {
  const install = () =>
    execa('apt-get', ['install', '-y', '--no-install-recommends', ...packages], {
      reject: false,
      env: { DEBIAN_FRONTEND: 'noninteractive' },
    });
  if ((await install()).exitCode === 0) return true;
  // A fresh container has no package lists yet: fetch them once, then try again.
  await execa('apt-get', ['update'], { reject: false });
  return (await install()).exitCode === 0;
}

/**
 * True when every one of `programs` can be run, installing `packages` first if one is missing.
 * Prints why and returns false when it cannot (not root, no apt, the install failed).
 */
export async function ensureInstalled(peer: string, programs: string[], packages: string[]): Promise<boolean> {
  const missing = async () => (await Promise.all(programs.map(found))).some((ok) => !ok);
  if (!(await missing())) return true;
  if (process.getuid?.() !== 0 || !(await found('apt-get'))) {
    console.log(`  ${peer}: not installed and cannot install it here (needs root and apt): skipped`);
    return false;
  }
  console.log(`  ${peer}: installing ${packages.join(' ')} with apt-get…`);
  if ((await aptInstall(packages)) && !(await missing())) return true;
  console.log(`  ${peer}: apt-get install ${packages.join(' ')} failed: skipped`);
  return false;
}
