/** A run's quota socket is a symbolic link to the socket of the worker that holds it: repointed, never shared. */
import { randomBytes } from 'node:crypto';
import { readlink, rename, rm, symlink } from 'node:fs/promises';
import { connect } from 'node:net';

/** Points `link` at `socket` in one step (a script connecting meanwhile sees the old target or the new one). */
export async function pointLink(link: string, socket: string): Promise<void> {
  const temporary = `${link}.${randomBytes(4).toString('hex')}.tmp`;
  await symlink(socket, temporary);
  try {
    await rename(temporary, link);
  } catch (err) {
    await rm(temporary, { force: true });
    throw err;
  }
}

export async function linkTarget(link: string): Promise<string | undefined> {
  return readlink(link).catch(() => undefined);
}

/** Whether a process listens on `socket`: only "nothing there" and "refused" say no (a full backlog is alive). */
export function socketAnswers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(socket);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      probe.destroy();
      resolve(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT' && err.code !== 'ENOTSOCK');
    });
  });
}
