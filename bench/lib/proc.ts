import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Linux /proc readings of a server process and its descendants (a cluster primary and its workers). */

function fieldsOfStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid …: comm may contain spaces, so split after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function processTree(pid: number): number[] {
  const parents = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [pid];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = fieldsOfStat(Number(entry));
    if (fields) parents.set(Number(entry), Number(fields[1]));
  }
  const descendants = (id: number): number[] => [...parents].filter(([, parent]) => parent === id).flatMap(([child]) => [child, ...descendants(child)]);
  return [pid, ...descendants(pid)];
}

/** Resident set size, KiB; undefined where /proc is not available. */
export function residentKiB(pid: number): number | undefined {
  let total = 0;
  for (const id of processTree(pid)) {
    try {
      total += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${id}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone meanwhile
    }
  }
  return total || undefined;
}

let ticksPerSecond: number | undefined;

/** CPU time used so far (user + system, every thread: the argon2 pool too), milliseconds. */
export function cpuMs(pid: number): number | undefined {
  ticksPerSecond ??= (() => {
    try {
      return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      return 100;
    }
  })();
  let ticks = 0;
  let found = false;
  for (const id of processTree(pid)) {
    const fields = fieldsOfStat(id);
    if (!fields) continue;
    found = true;
    // utime and stime are fields 14 and 15 of the stat line; fields[] starts at field 3 (state).
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return found ? (ticks * 1000) / ticksPerSecond : undefined;
}
