/**
 * What a process and the machine use, read from `/proc`: peak and current RSS, and CPU time by
 * thread kind, for the load benchmark. Reads go through `cat`, which needs no Deno permission
 * (Deno asks for all permissions to read `/proc` directly).
 *
 * @module
 */

/** Peak resident memory of `pid` (VmHWM), in MB. */
export async function peakRssMb(pid: number): Promise<number> {
  return await statusMb(pid, "VmHWM");
}

/** Resident memory of `pid` now (VmRSS), in MB. */
export async function rssMb(pid: number): Promise<number> {
  return await statusMb(pid, "VmRSS");
}

/** CPU ticks of the service's threads by kind, and of the whole machine, at one moment. */
export interface CpuTicks {
  main: number;
  signing: number;
  otherThreads: number;
  machineBusy: number;
  machineIdle: number;
}

/** Cores used over an interval: by the service's main thread, its signing pool, the rest. */
export interface CpuShares {
  main: number;
  signing: number;
  otherThreads: number;
  /** Everything else that ran on the machine: the load generator, mostly. */
  elsewhere: number;
  idle: number;
}

/** Reads the CPU ticks of the threads of `pid` (or of several processes) and of the machine. */
export async function cpuTicks(pid: number | readonly number[]): Promise<CpuTicks> {
  const pids = typeof pid === "number" ? [pid] : pid;
  const stats = pids.map((one) => `/proc/${one}/task/*/stat`).join(" ");
  // One shell, so the threads and the machine are read at (nearly) the same moment.
  const { stdout } = await new Deno.Command("sh", {
    args: ["-c", `cat ${stats}; head -n 1 /proc/stat`],
  }).output();
  const ticks: CpuTicks = { main: 0, signing: 0, otherThreads: 0, machineBusy: 0, machineIdle: 0 };
  for (const line of new TextDecoder().decode(stdout).trim().split("\n")) {
    if (line.startsWith("cpu ")) {
      const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1)
        .map(Number);
      ticks.machineBusy = user + nice + system + irq + softirq + steal;
      ticks.machineIdle = idle + iowait;
      continue;
    }
    // pid (comm) state ... utime stime: fields 14 and 15, counted after the parenthesis.
    const comm = line.slice(line.indexOf("(") + 1, line.lastIndexOf(")"));
    const fields = line.slice(line.lastIndexOf(")") + 2).split(" ");
    const used = Number(fields[11]) + Number(fields[12]);
    // Deno runs WebCrypto's signing and verification on tokio's blocking threads.
    if (comm === "deno") ticks.main += used;
    else if (comm.startsWith("tokio-runtime")) ticks.signing += used;
    else ticks.otherThreads += used;
  }
  return ticks;
}

/** Cores used between two readings, by kind. */
export function cpuShares(before: CpuTicks, after: CpuTicks): CpuShares {
  const cores = navigator.hardwareConcurrency;
  const elapsed =
    (after.machineBusy + after.machineIdle - before.machineBusy - before.machineIdle) /
    cores;
  const share = (key: keyof CpuTicks) => (after[key] - before[key]) / elapsed;
  const main = share("main");
  const signing = share("signing");
  const otherThreads = share("otherThreads");
  return {
    main,
    signing,
    otherThreads,
    // Per-thread and machine-wide counters are sampled differently; never report below zero.
    elsewhere: Math.max(0, share("machineBusy") - main - signing - otherThreads),
    idle: share("machineIdle"),
  };
}

async function statusMb(pid: number, field: string): Promise<number> {
  const { stdout } = await new Deno.Command("cat", { args: [`/proc/${pid}/status`] }).output();
  const status = new TextDecoder().decode(stdout);
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) / 1024;
}
