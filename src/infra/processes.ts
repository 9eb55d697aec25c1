import { readdirSync, readFileSync } from 'node:fs';

// Processes found by PID through /proc, never by name: other servers of the same program (the
// machine's own PostgreSQL, other people's embedded ones) run beside ours and must not be touched.

export interface ProcStat {
  pid: number;
  ppid: number;
  /** R, S, D, T, Z … (Z: exited, waiting to be reaped; it holds no memory, files or sockets). */
  state: string;
  /** Clock ticks after boot: with the pid, it tells a process from a later one given the same pid. */
  startTicks: string;
  /** CPU in clock ticks (proc(5) fields 14–17): user and system time of the process (all its threads)… */
  utime: number;
  stime: number;
  /** …and of its children that have exited and been waited for (reaped) by it. */
  cutime: number;
  cstime: number;
}

/**
 * One /proc/<pid>/stat line. The command name (field 2) is in parentheses and may hold spaces and
 * parentheses itself ("(a) b)"), so the fields are counted from after the LAST ')'; undefined when
 * the line has no ')' or too few fields.
 */
export function parseProcStat(pid: number, text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // Field 3 (state) is f[0]; field n is f[n - 3].
  const f = text.slice(close + 2).trim().split(' ');
  if (f.length < 20) return undefined;
  const tick = (i: number) => Number(f[i]);
  return { pid, state: f[0]!, ppid: tick(1), utime: tick(11), stime: tick(12), cutime: tick(13), cstime: tick(14), startTicks: f[19]! };
}

/** /proc/<pid>/stat, or undefined when there is no such process. */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcStat(pid, text);
}

/** Every process on the machine (zombies included), from one scan of /proc. */
export function allProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** The live children of `ppid` (zombies left out): one scan of /proc. */
export function childrenOf(ppid: number): ProcStat[] {
  return allProcesses().filter((s) => s.ppid === ppid && !exited(s));
}

/** True once the process this stat described has exited (gone, a zombie, or its pid reused). */
export function isGone(p: ProcStat): boolean {
  const now = procStat(p.pid);
  return !now || exited(now) || now.startTicks !== p.startTicks;
}

const exited = (s: ProcStat) => s.state === 'Z' || s.state === 'X';
