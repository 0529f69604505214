//! Process facts from Linux: a process's resident memory and CPU time (read
//! from `/proc`, for the server's figures and the generator's own), pinning
//! to a CPU, and the open-file limit that many sockets need.

use std::time::Duration;

use anyhow::{Context, anyhow};

/// Memory and CPU of one process at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    /// Resident set size (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// User + system CPU time since the process started.
    pub cpu: Duration,
}

/// Reads `/proc/<pid>` (`pid` `None` means this process).
pub fn sample(pid: Option<u32>) -> anyhow::Result<ProcSample> {
    let dir = match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".to_string(),
    };
    let status = std::fs::read_to_string(format!("{dir}/status"))
        .with_context(|| format!("reading {dir}/status"))?;
    let stat = std::fs::read_to_string(format!("{dir}/stat"))
        .with_context(|| format!("reading {dir}/stat"))?;
    Ok(ProcSample {
        rss_kib: parse_vm_rss(&status).ok_or_else(|| anyhow!("no VmRSS in {dir}/status"))?,
        cpu: parse_cpu(&stat, clock_ticks()).ok_or_else(|| anyhow!("bad {dir}/stat"))?,
    })
}

/// The sum of [`sample`] over several processes (the nodes of a cluster).
pub fn sample_sum(pids: &[u32]) -> anyhow::Result<ProcSample> {
    let mut sum = ProcSample {
        rss_kib: 0,
        cpu: Duration::ZERO,
    };
    for p in pids {
        let s = sample(Some(*p))?;
        sum.rss_kib += s.rss_kib;
        sum.cpu += s.cpu;
    }
    Ok(sum)
}

/// `VmRSS:   12345 kB` → 12345.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The command
/// name (field 2) is in parentheses and may hold spaces, so fields are
/// counted from the last `)`.
pub fn parse_cpu(stat: &str, ticks_per_s: u64) -> Option<Duration> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name come field 3 (state) onwards: utime is field 14, so
    // index 11 here, stime index 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = utime + stime;
    let per = ticks_per_s.max(1);
    Some(
        Duration::from_secs(ticks / per)
            + Duration::from_secs_f64((ticks % per) as f64 / per as f64),
    )
}

/// Clock ticks per second of `/proc` CPU times.
fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a system constant; it has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as u64 } else { 100 }
}

/// Pins this process's threads (all of them, present and future) to `cpu`,
/// so the generator does not compete with a server pinned elsewhere.
pub fn pin_to(cpu: usize) -> anyhow::Result<()> {
    let ids = core_affinity::get_core_ids().ok_or_else(|| anyhow!("cannot list CPUs"))?;
    let id = ids
        .into_iter()
        .find(|c| c.id == cpu)
        .ok_or_else(|| anyhow!("no CPU {cpu} available to this process"))?;
    // Pinning the main thread before the runtime starts makes every thread
    // it spawns inherit the mask.
    if core_affinity::set_for_current(id) {
        Ok(())
    } else {
        Err(anyhow!("could not pin to CPU {cpu}"))
    }
}

/// Raises the soft open-file limit to the hard limit: every socket is a file.
/// Returns the limit now in force.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the struct we pass and nothing
    // else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return want.rlim_cur;
            }
        }
    }
    lim.rlim_cur
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    fn vm_rss_is_read_from_its_status_line() {
        let status = "Name:\tswitchboard\nVmPeak:\t  900 kB\nVmRSS:\t   53124 kB\nThreads:\t9\n";
        assert_eq!(parse_vm_rss(status), Some(53124));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_time_adds_user_and_system_ticks_even_with_spaces_in_the_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime ...
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0";
        assert_eq!(parse_cpu(stat, 100), Some(Duration::from_millis(3250)));
        assert_eq!(parse_cpu("garbage", 100), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(None).expect("sample self");
        assert!(s.rss_kib > 0);
    }

    #[test]
    fn a_sum_of_samples_adds_each_process_and_fails_on_a_missing_one() {
        let me = std::process::id();
        let one = sample_sum(&[me]).expect("sample self");
        let two = sample_sum(&[me, me]).expect("sample self twice");
        // RSS moves a little between reads; twice one within 10 %.
        let ratio = two.rss_kib as f64 / one.rss_kib as f64;
        assert!((1.8..2.2).contains(&ratio), "{ratio}");
        assert!(two.cpu >= one.cpu);
        assert!(sample_sum(&[me, u32::MAX]).is_err());
    }
}
