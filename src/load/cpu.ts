import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { allProcesses, procStat, type ProcStat } from '../infra/processes.js';

// CPU per component, measured: the user + system time the kernel charged to each process of the
// run, read from /proc at the start and the end of the measured load. A server with children (the
// PostgreSQL postmaster, whose backends come and go) is read as a tree: its own time, its reaped
// children's (cutime, cstime) and every live descendant's, so a backend that exits between the
// readings moves from "live descendant" into the postmaster's cutime and is neither lost nor
// counted twice. Plain data in and out; the report renders it.

/** A part of the run whose CPU is accounted: its processes, or why they cannot be read. */
export type CpuComponent = MeasuredComponent | { name: string; notMeasured: string };

export interface MeasuredComponent {
  name: string;
  /** The component's processes as they are now (read at each sample: a restarted instance has a new pid); undefined: none right now. */
  pids: () => (number | undefined)[];
  /** Count each process's descendants and reaped children too (servers that fork); false: the process alone (the lab, whose children are the other components). */
  tree: boolean;
  /** What else runs inside these processes, for the reader (the booking core, with --transport direct). */
  note?: string;
}

/** One process (or tree) as read: identified by pid and start time, so a reused pid is a new process. */
interface Reading { pid: number; startTicks: string; us: number }

export interface CpuSnapshot {
  /** performance.now() when the sample was taken. */
  atMs: number;
  /** /proc/stat's first line: busy and all clock ticks, summed over every CPU (absent where unreadable). */
  machine?: { busy: number; total: number };
  /** The lab's reaped children (its cutime + cstime), µs: a killed instance or crashed server, reaped by the lab, lands here whole. */
  labReapedUs: number;
  components: { name: string; tree: boolean; note?: string; readings: Reading[] }[];
  notMeasured: { name: string; reason: string }[];
}

export interface CpuComponentFigures {
  name: string;
  /** The processes read (a tree's root: its descendants are counted under it). */
  pids: number[];
  /** Whether descendants and reaped children were counted. */
  tree: boolean;
  cpuMs: number;
  /** µs of CPU per answered request (null without requests). */
  usPerRequest: number | null;
  /** cpuMs ÷ (cores × durationMs): 0.25 is a quarter of the machine. */
  share: number;
  /** Processes that exited between the readings: only what was read before counts (a lower bound). */
  exited?: number[];
  /** Processes that started between the readings (a restarted instance): counted from their start. */
  started?: number[];
  note?: string;
}

export interface CpuFigures {
  /** Between the two readings (the measured load). */
  durationMs: number;
  cores: number;
  /** One clock tick in ms: each process's /proc figure is rounded down to it at each reading (the lab's own is exact, from getrusage). */
  tickMs: number;
  requests: number;
  components: CpuComponentFigures[];
  /** Components whose processes the lab cannot read (a server it did not start), and why. */
  notMeasured: { name: string; reason: string }[];
  /** Every measured component together. */
  total: { cpuMs: number; usPerRequest: number | null; share: number };
  /** The whole machine from /proc/stat: every process and the kernel (softirq included); what the components leave of it ran elsewhere. */
  machine?: { share: number };
  /** Several runs: the run (1-based) these figures are from. */
  run?: number;
}

let clockTicks: number | undefined;

/**
 * The unit of /proc/<pid>/stat's times: sysconf(_SC_CLK_TCK) per proc(5), asked once of `getconf
 * CLK_TCK`. If that fails, 100: Linux's USER_HZ, which the kernel exports on every architecture.
 */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    let n = NaN;
    try {
      n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    } catch { /* no getconf: the Linux value below */ }
    clockTicks = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

const ticksOf = (s: ProcStat, withChildren: boolean) => s.utime + s.stime + (withChildren ? s.cutime + s.cstime : 0);

/** Reads every measured component's processes now: one scan of /proc for the trees, getrusage for the lab's own process. */
export function sampleCpu(components: CpuComponent[]): CpuSnapshot {
  const usPerTick = 1e6 / clockTicksPerSecond();
  const measured = components.filter((c): c is MeasuredComponent => !('notMeasured' in c));
  const all = measured.some((c) => c.tree) ? allProcesses() : [];
  const children = new Map<number, ProcStat[]>();
  for (const p of all) {
    const siblings = children.get(p.ppid);
    if (siblings) siblings.push(p);
    else children.set(p.ppid, [p]);
  }
  const byPid = new Map(all.map((p) => [p.pid, p]));
  const self = procStat(process.pid);
  const selfStart = self?.startTicks ?? 'self';
  const read = (pid: number, tree: boolean): Reading | undefined => {
    if (pid === process.pid && !tree) {
      // The lab's own process: getrusage, in µs rather than ticks (it is the figure every report shows).
      const u = process.cpuUsage();
      return { pid, startTicks: selfStart, us: u.user + u.system };
    }
    const root = byPid.get(pid) ?? procStat(pid);
    if (!root) return undefined;
    if (!tree) return { pid, startTicks: root.startTicks, us: ticksOf(root, false) * usPerTick };
    // Zombies too: an exited backend not yet reaped is in no cutime yet.
    let ticks = 0;
    const seen = new Set<number>();
    for (const queue = [root]; queue.length > 0;) {
      const p = queue.pop()!;
      if (seen.has(p.pid)) continue;
      seen.add(p.pid);
      ticks += ticksOf(p, true);
      queue.push(...(children.get(p.pid) ?? []));
    }
    return { pid, startTicks: root.startTicks, us: ticks * usPerTick };
  };
  return {
    atMs: performance.now(),
    ...machineTicks(),
    labReapedUs: self ? (self.cutime + self.cstime) * usPerTick : 0,
    components: measured.map((c) => ({
      name: c.name, tree: c.tree, ...(c.note ? { note: c.note } : {}),
      readings: [...new Set(c.pids().filter((p): p is number => p !== undefined && p > 0))].flatMap((pid) => read(pid, c.tree) ?? []),
    })),
    notMeasured: components.flatMap((c) => ('notMeasured' in c ? [{ name: c.name, reason: c.notMeasured }] : [])),
  };
}

/** /proc/stat's aggregate line: user nice system idle iowait irq softirq steal (guest time is inside user). */
function machineTicks(): { machine?: CpuSnapshot['machine'] } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return {};
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
    const busy = user + nice + system + irq + softirq + steal;
    return { machine: { busy, total: busy + idle + iowait } };
  } catch {
    return {};
  }
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Each component's CPU between two samples, per request and as a share of `cores` × `durationMs`. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot, durationMs: number, cores: number, requests: number): CpuFigures {
  const capacityUs = Math.max(1, cores * durationMs * 1000);
  const perRequest = (us: number) => (requests > 0 ? round(us / requests, 1) : null);
  const key = (r: Reading) => `${r.pid}/${r.startTicks}`;
  let totalUs = 0;
  const components = b.components.map((c): CpuComponentFigures => {
    const before = new Map((a.components.find((x) => x.name === c.name)?.readings ?? []).map((r) => [key(r), r]));
    const after = new Set(c.readings.map(key));
    let us = 0;
    const started: number[] = [];
    for (const r of c.readings) {
      const r0 = before.get(key(r));
      if (!r0) started.push(r.pid);
      us += Math.max(0, r.us - (r0?.us ?? 0));
    }
    const exited = [...before.values()].filter((r) => !after.has(key(r))).map((r) => r.pid);
    totalUs += us;
    return {
      name: c.name, pids: [...new Set([...before.values(), ...c.readings].map((r) => r.pid))], tree: c.tree,
      cpuMs: round(us / 1000, 1), usPerRequest: perRequest(us), share: round(us / capacityUs, 4),
      ...(exited.length > 0 ? { exited } : {}), ...(started.length > 0 ? { started } : {}), ...(c.note ? { note: c.note } : {}),
    };
  });
  // Processes that exited meanwhile (a killed instance and each restart killed after it, a crashed
  // server) were the lab's children, reaped by it: their whole lives are in the lab's cutime now.
  // Less what the first reading had already counted of them, that is their CPU in the window.
  const exitedBy = components.filter((c) => c.exited || c.started);
  if (exitedBy.length > 0) {
    const readBefore = b.components.flatMap((c) => {
      const gone = new Set(components.find((x) => x.name === c.name)?.exited ?? []);
      return (a.components.find((x) => x.name === c.name)?.readings ?? []).filter((r) => gone.has(r.pid));
    }).reduce((sum, r) => sum + r.us, 0);
    const us = Math.max(0, b.labReapedUs - a.labReapedUs - readBefore);
    totalUs += us;
    components.push({
      name: 'exited', pids: [...new Set(exitedBy.flatMap((c) => c.exited ?? []))], tree: true,
      cpuMs: round(us / 1000, 1), usPerRequest: perRequest(us), share: round(us / capacityUs, 4),
      note: `processes of ${exitedBy.map((c) => c.name).join(', ')} that exited during the load (killed, crashed, and every restart killed after them): ` +
        'their CPU in the window, from the lab\'s reaped children (cutime, cstime) less what the first reading had counted; a server\'s children that outlived it are not in it',
    });
  }
  const dm = a.machine && b.machine ? { busy: b.machine.busy - a.machine.busy, total: b.machine.total - a.machine.total } : undefined;
  return {
    durationMs: Math.round(durationMs), cores, tickMs: 1000 / clockTicksPerSecond(), requests, components, notMeasured: b.notMeasured,
    total: { cpuMs: round(totalUs / 1000, 1), usPerRequest: perRequest(totalUs), share: round(totalUs / capacityUs, 4) },
    ...(dm && dm.total > 0 ? { machine: { share: round(dm.busy / dm.total, 4) } } : {}),
  };
}

/** A measuring window: the first sample now, the second and the figures on end(). */
export function startCpuWindow(components: CpuComponent[], cores = os.cpus().length): { end: (requests: number) => CpuFigures } {
  clockTicksPerSecond(); // asked before the window opens, so its child process is not in it
  const a = sampleCpu(components);
  return {
    end: (requests) => {
      const b = sampleCpu(components);
      return cpuBetween(a, b, b.atMs - a.atMs, cores, requests);
    },
  };
}
