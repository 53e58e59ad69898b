//! `tests/bed/node down` leaves the machine as `up` found it: no process it
//! started, no bridge, no mount, cgroup or iptables chain of the node, and
//! the kernel tunables the kubelet rewrites back at their earlier values.

mod support;

use std::{path::Path, process::Command};

const SYSCTLS: [&str; 5] =
    ["vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops", "net/ipv4/ip_forward"];

fn node(verb: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bed/node");
    let out = Command::new(script).arg(verb).output().unwrap();
    assert!(out.status.success(), "tests/bed/node {verb}: {}", String::from_utf8_lossy(&out.stderr));
}

fn sysctls() -> Vec<String> {
    SYSCTLS.iter().map(|name| std::fs::read_to_string(Path::new("/proc/sys").join(name)).unwrap()).collect()
}

/// Command lines of live processes that run a bed binary (charon aside:
/// other tests run it) or use the node's state (containerd and its shims).
fn node_processes() -> Vec<String> {
    let bin = support::bed::bed_dir().join("bin").display().to_string();
    let state = support::bed::bed_dir().join("node").display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| std::fs::read(entry.ok()?.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmdline| {
            let program = cmdline.split(' ').next().unwrap_or_default();
            (program.starts_with(&bin) && !program.ends_with("/charon")) || cmdline.contains(&state)
        })
        .collect()
}

fn iptables_rules() -> String {
    let mut rules = String::new();
    for table in ["filter", "nat", "mangle", "raw"] {
        let out = Command::new("iptables").args(["-t", table, "-S"]).output().unwrap();
        rules.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    rules
}

#[test]
fn the_node_comes_up_and_down_leaves_nothing_behind() {
    let before = sysctls();
    node("up");
    assert!(Path::new("/sys/class/net/kbed0").exists(), "up makes the bridge");
    assert!(!node_processes().is_empty(), "up starts the node's processes");

    node("down");
    assert_eq!(node_processes(), Vec::<String>::new(), "processes outlived down");
    assert!(!Path::new("/sys/class/net/kbed0").exists(), "the bridge outlived down");
    let state = support::bed::bed_dir().join("node").display().to_string();
    let mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|line| line.contains(&state) || line.contains("/run/containerd"))
        .map(String::from)
        .collect();
    assert_eq!(mounts, Vec::<String>::new(), "mounts outlived down");
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().filter_map(Result::ok) {
        assert!(!hierarchy.path().join("kubepods").exists(), "{} keeps kubepods", hierarchy.path().display());
    }
    let rules = iptables_rules();
    assert!(!rules.contains("KUBE-") && !rules.contains("CNI-") && !rules.contains("10.88.0.0/16"), "{rules}");
    assert_eq!(sysctls(), before, "the kernel tunables are back ({SYSCTLS:?})");
}
