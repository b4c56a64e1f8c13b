//! The runner locks itself down before it opens the plugin library, while it is still
//! single-threaded, in a fixed order: rlimits → Landlock → no new privileges → seccomp.
//! seccomp comes last because its filter forbids calls the earlier layers make, and TSYNC
//! applies it to every thread only while there is just the one. Each layer is best effort where the kernel lacks it and is reported as
//! such (the host shows the report in `tusk plugin info` and warns once); a layer that fails
//! for any other reason fails the start, because a half-applied sandbox would be a lie.

use std::collections::BTreeMap;
use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};
use nix::sys::resource::{Resource, setrlimit};
use tusk_plugin_wire::{Init, Layer, LayerState, NetGrant};

/// What the dynamic loader and Rust's runtime read while loading and running a plugin:
/// libraries and their cache, and the few files std consults (CPU count, cgroup quotas).
const SYSTEM_READ: &[&str] = &[
    "/lib",
    "/lib32",
    "/lib64",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/local/lib",
    "/etc/ld.so.cache",
    "/etc/ld.so.preload",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/proc/self",
    "/sys/fs/cgroup",
    "/sys/devices/system/cpu",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
    "/dev/null",
];

/// Read on top of [`SYSTEM_READ`] when the plugin may use the network: name resolution and
/// TLS roots.
const NETWORK_READ: &[&str] = &[
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/services",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
    "/etc/pki",
];

/// Applies every layer; returns them in order.
pub(crate) fn apply(init: &Init) -> Result<Vec<Layer>, String> {
    let mut layers = vec![rlimits(init)?];
    layers.push(landlock(init)?);
    layers.push(no_new_privs()?);
    layers.push(seccomp(&init.net, init.fs.write_all)?);
    Ok(layers)
}

fn layer(name: &str, state: LayerState, detail: String) -> Layer {
    Layer { name: name.to_string(), state, detail }
}

fn rlimits(init: &Init) -> Result<Layer, String> {
    let limits = &init.limits;
    let mut detail = Vec::new();
    // No core files: a crashing plugin must not litter the working directory (or leak memory
    // contents into a file).
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(|error| format!("cannot disable core dumps: {error}"))?;
    if limits.memory_bytes > 0 {
        setrlimit(Resource::RLIMIT_AS, limits.memory_bytes, limits.memory_bytes)
            .map_err(|error| format!("cannot limit memory: {error}"))?;
        detail.push(format!("memory {} MiB", limits.memory_bytes >> 20));
    }
    if limits.cpu_seconds > 0 {
        // SIGXCPU at the soft limit (which the host reports as such), SIGKILL shortly after.
        setrlimit(Resource::RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 2)
            .map_err(|error| format!("cannot limit CPU time: {error}"))?;
        detail.push(format!("CPU {} s", limits.cpu_seconds));
    }
    detail.push("no core files".to_string());
    Ok(layer("rlimits", LayerState::Active, detail.join(", ")))
}

fn existing(paths: &[&str]) -> Vec<String> {
    paths.iter().filter(|path| Path::new(path).exists()).map(|path| path.to_string()).collect()
}

/// Adds `paths` with `access`, narrowed to what applies to files for a file (Landlock refuses
/// directory rights on a file). Paths that do not exist are skipped: a grant for a folder that
/// is not there grants nothing to open.
fn add_paths(
    mut ruleset: landlock::RulesetCreated,
    paths: &[String],
    access: BitFlags<AccessFs>,
) -> Result<(landlock::RulesetCreated, usize), String> {
    let mut added = 0;
    for path in paths {
        let Ok(fd) = PathFd::new(path) else { continue };
        let is_dir = Path::new(path).is_dir();
        let rights = if is_dir { access } else { access & AccessFs::from_file(ABI::V10) };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, rights))
            .map_err(|error| format!("cannot add a Landlock rule for {path}: {error}"))?;
        added += 1;
    }
    Ok((ruleset, added))
}

fn landlock(init: &Init) -> Result<Layer, String> {
    let abi = ABI::V10;
    let read = AccessFs::from_read(abi);
    let all = AccessFs::from_all(abi);
    let fs = &init.fs;
    let tcp_rules = !matches!(init.net, NetGrant::All);
    let failed = |error: landlock::RulesetError| format!("cannot set up Landlock: {error}");
    let mut ruleset =
        Ruleset::default().set_compatibility(CompatLevel::BestEffort).handle_access(all).map_err(failed)?;
    if tcp_rules {
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp).map_err(failed)?;
    }
    // The plugin may signal and reach abstract sockets only inside its own sandbox: it cannot
    // kill the host, or talk to a desktop session's abstract sockets.
    ruleset = ruleset.scope(Scope::Signal | Scope::AbstractUnixSocket).map_err(failed)?;
    let mut created = ruleset.create().map_err(failed)?;

    let mut read_paths = existing(SYSTEM_READ);
    read_paths.push(init.library.clone());
    if !matches!(init.net, NetGrant::None) {
        read_paths.extend(existing(NETWORK_READ));
    }
    if fs.read_all {
        read_paths = vec!["/".to_string()];
    } else {
        read_paths.extend(fs.read.iter().cloned());
    }
    let write_paths = if fs.write_all { vec!["/".to_string()] } else { fs.write.clone() };
    let (next, _) = add_paths(created, &read_paths, read)?;
    let (next, n_write) = add_paths(next, &write_paths, all)?;
    created = next;
    // /dev/null is written to by many libraries; it leaks nothing.
    let (next, _) = add_paths(created, &["/dev/null".to_string()], AccessFs::WriteFile.into())?;
    created = next;
    // No TCP rules: a brokered grant's connections are made by the host, so the runner
    // itself connects nowhere and binds nothing.
    let status = created.restrict_self().map_err(failed)?;
    let kernel_abi = match status.landlock {
        LandlockStatus::Available { effective_abi, .. } => effective_abi as u32,
        _ => 0,
    };
    if kernel_abi < init.limits.min_landlock_abi {
        return Err(format!(
            "this kernel's Landlock ABI is {kernel_abi}, the settings require at least {}",
            init.limits.min_landlock_abi
        ));
    }
    let state = match status.ruleset {
        RulesetStatus::FullyEnforced => LayerState::Active,
        RulesetStatus::PartiallyEnforced => LayerState::Partial,
        _ => LayerState::Unavailable,
    };
    if state == LayerState::Unavailable {
        let why = match status.landlock {
            LandlockStatus::NotEnabled => "Landlock is built into this kernel but not enabled",
            _ => "this kernel has no Landlock",
        };
        return Ok(layer("landlock", state, why.to_string()));
    }
    let reads = if fs.read_all { "everything".to_string() } else { format!("{} granted path(s)", fs.read.len()) };
    let writes = if fs.write_all { "everything".to_string() } else { format!("{n_write} granted path(s)") };
    let network = match &init.net {
        NetGrant::All => "any TCP",
        NetGrant::None | NetGrant::Brokered => "no TCP connect or bind",
    };
    let mut detail = format!(
        "ABI {kernel_abi}; read: library, system libraries, {reads}; write: {writes}; {network}; signals and abstract sockets scoped"
    );
    if state == LayerState::Partial {
        let effective = match status.landlock {
            LandlockStatus::Available { effective_abi, .. } => effective_abi,
            _ => ABI::Unsupported,
        };
        let missing = AccessFs::from_all(abi) & !AccessFs::from_all(effective);
        let names: Vec<String> = missing.iter().map(|access| format!("{access:?}")).collect();
        if names.is_empty() {
            detail.push_str("; some rules are not supported by this kernel");
        } else {
            detail.push_str(&format!("; this kernel cannot enforce {}", names.join(", ")));
        }
    }
    Ok(layer("landlock", state, detail))
}

fn no_new_privs() -> Result<Layer, String> {
    // Landlock already needed it; set it explicitly so it holds where Landlock is missing too.
    nix::sys::prctl::set_no_new_privs().map_err(|error| format!("cannot set no_new_privs: {error}"))?;
    Ok(layer("no_new_privs", LayerState::Active, "set-user-id and file capabilities cannot raise privileges".into()))
}

#[cfg(target_arch = "x86_64")]
fn seccomp(net: &NetGrant, unix_sockets: bool) -> Result<Layer, String> {
    use nix::libc;
    use seccompiler::{SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule};

    // Denied outright: running programs, starting processes (threads are allowed below) or
    // leaving the process group (so nothing outlives the runner or escapes its group kill),
    // debugging or reading other processes, kernel and mount administration, namespaces,
    // kernel keyrings, eBPF, io_uring (whose operations would bypass this filter), perf and
    // the like.
    let denied: &[i64] = &[
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_fork,
        libc::SYS_vfork,
        libc::SYS_setsid,
        libc::SYS_setpgid,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_pidfd_getfd,
        libc::SYS_kcmp,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_bpf,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_iopl,
        libc::SYS_ioperm,
        libc::SYS_syslog,
        libc::SYS_personality,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_adjtimex,
        libc::SYS_clock_adjtime,
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        libc::SYS_vhangup,
        libc::SYS_uselib,
        libc::SYS_fanotify_init,
    ];
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    // x32 system calls carry this bit on x86_64 kernels that have the x32 ABI; deny those
    // variants too (plus the x32-only numbers of execve, execveat and ptrace).
    const X32: i64 = 0x4000_0000;
    for &number in denied {
        rules.insert(number, Vec::new());
        rules.insert(number | X32, Vec::new());
    }
    for x32_only in [520, 521, 539, 540, 545] {
        rules.insert(X32 | x32_only, Vec::new());
    }
    let network = network_rules(net, unix_sockets, &mut |number, number_rules| {
        rules.insert(number, number_rules.clone());
        rules.insert(number | X32, number_rules);
    })?;
    let program = compile(rules, libc::EPERM)?;
    // `clone3` takes its flags in memory the filter cannot read, so it fails with ENOSYS and
    // the C library falls back to `clone`, whose flags are checked below: a new thread
    // (`CLONE_THREAD`) is fine, a new process or namespace is not.
    let clone3 = compile(BTreeMap::from([(libc::SYS_clone3, Vec::new())]), libc::ENOSYS)?;
    let namespaces = [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWCGROUP,
    ];
    let flag_set = |flag: i32, set: bool| {
        let flag = flag as u64;
        let condition =
            SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(flag), if set { flag } else { 0 })
                .map_err(|error| format!("cannot build the seccomp filter: {error}"))?;
        SeccompRule::new(vec![condition]).map_err(|error| format!("cannot build the seccomp filter: {error}"))
    };
    let mut flag_rules = namespaces.iter().map(|&flag| flag_set(flag, true)).collect::<Result<Vec<_>, String>>()?;
    flag_rules.push(flag_set(libc::CLONE_THREAD, false)?);
    let clone_flags = compile(BTreeMap::from([(libc::SYS_clone, flag_rules)]), libc::EPERM)?;
    for program in [&program, &clone3, &clone_flags] {
        // TSYNC: every thread gets the filter (the runner has one thread now; this keeps it
        // true if that ever changes).
        if let Err(error) = seccompiler::apply_filter_all_threads(program) {
            return Ok(layer("seccomp", LayerState::Unavailable, format!("the kernel refused the filter: {error}")));
        }
    }
    Ok(layer(
        "seccomp",
        LayerState::Active,
        format!(
            "denies exec, new processes, setsid, ptrace, mount, namespaces, bpf, keyrings, io_uring, modules, {network}"
        ),
    ))
}

/// A filter that fails the listed system calls (when their rules match) with `errno`.
#[cfg(target_arch = "x86_64")]
fn compile(rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>>, errno: i32) -> Result<seccompiler::BpfProgram, String> {
    use seccompiler::{SeccompAction, SeccompFilter, TargetArch};
    let failed = |error: seccompiler::BackendError| format!("cannot build the seccomp filter: {error}");
    let filter =
        SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(errno as u32), TargetArch::x86_64)
            .map_err(failed)?;
    filter.try_into().map_err(failed)
}

/// The socket system calls' rules (each matching rule denies the call) for a network grant;
/// returns what they amount to, for the report.
#[cfg(target_arch = "x86_64")]
fn network_rules(
    net: &NetGrant,
    unix_sockets: bool,
    deny: &mut dyn FnMut(i64, Vec<seccompiler::SeccompRule>),
) -> Result<&'static str, String> {
    use nix::libc;
    use seccompiler::{SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule};
    let failed = |error: seccompiler::BackendError| format!("cannot build the seccomp filter: {error}");
    let condition = |argument: u8, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(argument, SeccompCmpArgLen::Dword, op, value).map_err(failed)
    };
    let rule = |conditions: Vec<SeccompCondition>| SeccompRule::new(conditions).map_err(failed);
    // `socket(domain, …)` with a domain not in `allowed`.
    let other_domains = |allowed: &[i32]| -> Result<SeccompRule, String> {
        let conditions = allowed
            .iter()
            .map(|&domain| condition(0, SeccompCmpOp::Ne, domain as u64))
            .collect::<Result<Vec<_>, String>>()?;
        rule(conditions)
    };
    Ok(match net {
        NetGrant::None => {
            // Without a network grant the runner needs no socket at all (its channel is
            // inherited): none of any family, so no local daemon's socket either.
            for number in [libc::SYS_socket, libc::SYS_socketpair, libc::SYS_connect, libc::SYS_bind] {
                deny(number, Vec::new());
            }
            "no sockets"
        }
        NetGrant::Brokered => {
            // TCP sockets only (the broker's connected socket takes the place of one), never
            // connected or bound here: the host connects, to granted hosts. No UDP (DNS could
            // carry data out), no raw or Unix sockets, and no TCP Fast Open, which connects
            // with the first `sendto`/`sendmsg` instead of `connect`.
            let mut socket = vec![other_domains(&[libc::AF_INET, libc::AF_INET6])?];
            for kind in (0..16).filter(|&kind| kind != libc::SOCK_STREAM) {
                socket.push(rule(vec![condition(1, SeccompCmpOp::MaskedEq(0xf), kind as u64)?])?);
            }
            deny(libc::SYS_socket, socket);
            for number in [libc::SYS_socketpair, libc::SYS_connect, libc::SYS_bind] {
                deny(number, Vec::new());
            }
            let fast_open = libc::MSG_FASTOPEN as u64;
            for (number, flags) in [(libc::SYS_sendto, 3), (libc::SYS_sendmsg, 2), (libc::SYS_sendmmsg, 3)] {
                deny(number, vec![rule(vec![condition(flags, SeccompCmpOp::MaskedEq(fast_open), fast_open)?])?]);
            }
            "TCP sockets connected by the host only"
        }
        NetGrant::All => {
            // IP and (for name lookups' routing queries) route netlink sockets; Unix sockets
            // only when every path may be written (a socket's path is not visible here).
            let mut domains = vec![libc::AF_INET, libc::AF_INET6, libc::AF_NETLINK];
            if unix_sockets {
                domains.push(libc::AF_UNIX);
            }
            let netlink_other = rule(vec![
                condition(0, SeccompCmpOp::Eq, libc::AF_NETLINK as u64)?,
                condition(2, SeccompCmpOp::Ne, libc::NETLINK_ROUTE as u64)?,
            ])?;
            deny(libc::SYS_socket, vec![other_domains(&domains)?, netlink_other]);
            if unix_sockets { "IP and Unix sockets" } else { "IP sockets, no Unix sockets" }
        }
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn seccomp(_net: &NetGrant, _unix_sockets: bool) -> Result<Layer, String> {
    Ok(layer("seccomp", LayerState::Unavailable, "the runner's filter is written for x86_64 only".into()))
}
