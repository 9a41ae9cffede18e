// What the bench reads from Linux's /proc: CPU time and resident memory of a
// process tree (threads and children included), the load average, and which
// process listens on a loopback port (to find a database started by someone else).
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** USER_HZ: the unit of the times in /proc/<pid>/stat. */
export const CLOCK_TICKS = (() => {
  const probe = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const ticks = Number(probe.stdout?.trim());
  return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
})();

interface Stat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, in ticks: this process's threads and its reaped children. */
  ticks: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined; // gone
  }
  // The command name (field 2) may hold spaces and parentheses: the fields after it start at the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const at = (n: number) => Number(fields[n - 3]); // n is the field's number in proc(5)
  return { pid, ppid: at(4), ticks: at(14) + at(15) + at(16) + at(17) };
}

function allPids(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** The process and all its live descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of allPids()) {
    const stat = readStat(pid);
    if (!stat) continue;
    const siblings = children.get(stat.ppid) ?? [];
    siblings.push(pid);
    children.set(stat.ppid, siblings);
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/**
 * CPU milliseconds used so far by a process tree: every live member's threads plus
 * the children each member has reaped. A child that exits moves from its own line to
 * its parent's reaped total, so differences between two readings stay exact.
 */
export function treeCpuMs(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) ticks += readStat(pid)?.ticks ?? 0;
  return (ticks * 1000) / CLOCK_TICKS;
}

/** CPU milliseconds used so far by each live process of a tree (its threads and reaped children), by pid. */
export function cpuMsByProcess(root: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of processTree(root)) {
    const ticks = readStat(pid)?.ticks;
    if (ticks !== undefined) out.set(pid, (ticks * 1000) / CLOCK_TICKS);
  }
  return out;
}

/** CPU milliseconds of the children this process has reaped (e.g. a finished ghz). */
export function reapedChildrenCpuMs(): number {
  const text = readFileSync("/proc/self/stat", "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[16 - 3]) + Number(fields[17 - 3])) * 1000) / CLOCK_TICKS;
}

/** Resident set size in MB (VmRSS), undefined once the process is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function loadAverage(): [number, number, number] {
  const [one, five, fifteen] = readFileSync("/proc/loadavg", "utf8").split(" ").map(Number);
  return [one ?? NaN, five ?? NaN, fifteen ?? NaN];
}

/** The process listening on 127.0.0.1:port (or [::]:port), if it is on this machine and visible. */
export function pidListeningOn(port: number): number | undefined {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      if (!local || cols[3] !== "0A") continue; // 0A: LISTEN
      if (parseInt(local.slice(local.lastIndexOf(":") + 1), 16) === port && cols[9]) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const pid of allPids()) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode && inodes.has(inode)) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/** Samples the resident memory of every process in a tree until stopped; keeps each pid's peak. */
export function sampleRss(root: number, everyMs = 100): { stop(): Map<number, number> } {
  const peaks = new Map<number, number>();
  let members: number[] = [];
  let samples = 0;
  const sample = () => {
    // Walking all of /proc is the costly part: find the tree's members once a second.
    if (samples++ % Math.max(1, Math.round(1000 / everyMs)) === 0) members = processTree(root);
    for (const pid of members) {
      const mb = rssMb(pid);
      if (mb !== undefined && mb > (peaks.get(pid) ?? 0)) peaks.set(pid, mb);
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}
