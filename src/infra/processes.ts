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
}

/** /proc/<pid>/stat, or undefined when there is no such process. */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may hold spaces or parentheses: fields start after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pid, state: f[0] ?? '?', ppid: Number(f[1]), startTicks: f[19] ?? '' };
}

/** The live children of `ppid` (zombies left out): one scan of /proc. */
export function childrenOf(ppid: number): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(Number(name));
    if (s && s.ppid === ppid && !exited(s)) out.push(s);
  }
  return out;
}

/** True once the process this stat described has exited (gone, a zombie, or its pid reused). */
export function isGone(p: ProcStat): boolean {
  const now = procStat(p.pid);
  return !now || exited(now) || now.startTicks !== p.startTicks;
}

const exited = (s: ProcStat) => s.state === 'Z' || s.state === 'X';
