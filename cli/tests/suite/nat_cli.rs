//! A real NAT: network namespaces the test creates (as root), two home routers that
//! masquerade with nftables, a relay on the "internet" between them, and the real `swapmeet`
//! binary in each namespace (each node's API on 127.0.0.1 inside its own namespace, driven
//! by `ip netns exec NS swapmeet ...`).
//!
//! ```text
//!  home A 192.168.1.2 -- router A (NAT) 10.99.1.2 --+
//!                                                   +-- 10.99.1.1 / 10.99.2.1: relay R and
//!  home B 192.168.2.2 -- router B (NAT) 10.99.2.2 --+    a helper P (forwards between them)
//! ```
//!
//! Nothing is forced by config: R learns from AutoNAT (P dials it back) that it is public and
//! starts relaying; A and B learn from AutoNAT (R cannot dial them back) that they are behind
//! NAT and listen through R. B joins A by A's invite (its circuit address), they exchange a
//! listing and messages through the relay, and DCUtR punches a direct connection through both
//! NATs, which the status and the peers list must show. The routers drop unasked packets, as
//! home routers do; that is what lets the punch work every time (see `Lab::masquerade`).
//!
//! A second test bootstraps from DNS: a node whose config names a `bootstrap_dnsaddr` domain
//! finds its first peer through the `dnsaddr=` TXT records under `_dnsaddr.DOMAIN`, served by a
//! small DNS server in this process that the node's namespace uses as its resolver
//! (`/etc/netns/NS/resolv.conf`, which `ip netns exec` puts in place of `/etc/resolv.conf`).
//!
//! The tests need root, `ip` (iproute2) and `nft` (nftables); without them they fail saying so
//! (`.ci/run` installs nftables). Namespace names are unique per run, and a guard deletes the
//! namespaces and kills the nodes even when the test panics. Only private addresses inside
//! the namespaces are used.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_swapmeet");
const DEADLINE: Duration = Duration::from_secs(120);

fn run(cmd: &mut Command) -> Output {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn sh(args: &[&str]) -> Output {
    run(Command::new(args[0]).args(&args[1..]))
}

/// What the test needs of the machine, checked first: it fails (never passes silently).
fn require_root_ip_nft() {
    let uid = Command::new("id").arg("-u").output().map(|o| o.stdout);
    assert_eq!(
        uid.as_deref().map(|s| String::from_utf8_lossy(s).trim().to_string()).ok(),
        Some("0".to_string()),
        "the NAT test needs root (it creates network namespaces); run the tests as root, as CI does"
    );
    for (tool, pkg) in [("ip", "iproute2"), ("nft", "nftables")] {
        let ok = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "the NAT test needs `{tool}`: install the Debian package {pkg} (.ci/run does)"
        );
    }
}

/// The namespaces and nodes of one run; dropped (even by a panic), it kills the nodes and
/// deletes the namespaces.
struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    nodes: Vec<Child>,
    homes: Vec<tempfile::TempDir>,
    /// `/etc/netns/NS` folders written for a namespace's resolver.
    etc: Vec<PathBuf>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // What the nodes said, for the failure's report.
            for h in &self.homes {
                eprintln!("--- {}:\n{}", h.path().display(), log_tail(h.path()));
            }
        }
        for c in &mut self.nodes {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        for dir in &self.etc {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A node's home and namespace.
struct Node {
    ns: String,
    home: PathBuf,
}

impl Node {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, BIN])
            .args(args)
            .env("SWAPMEET_HOME", &self.home)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Vec<Value> {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = self.cmd(&a);
        assert!(
            o.status.success(),
            "swapmeet {a:?} in {} failed: {}",
            self.ns,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn status(&self) -> Value {
        self.json(&["status"]).remove(0)["network"].clone()
    }
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "gave up after {DEADLINE:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Lab {
    fn new() -> Lab {
        // Short and unique per run: namespaces are global to the machine.
        let prefix = format!("sm{}", std::process::id());
        Lab {
            prefix,
            namespaces: Vec::new(),
            nodes: Vec::new(),
            homes: Vec::new(),
            etc: Vec::new(),
        }
    }

    /// The resolver configuration processes in `ns` read (`ip netns exec` mounts
    /// `/etc/netns/NS/resolv.conf` over `/etc/resolv.conf`).
    fn resolv_conf(&mut self, ns: &str, text: &str) {
        let dir = PathBuf::from("/etc/netns").join(ns);
        std::fs::create_dir_all(&dir).unwrap();
        self.etc.push(dir.clone());
        std::fs::write(dir.join("resolv.conf"), text).unwrap();
    }

    fn ns(&mut self, name: &str) -> String {
        let ns = format!("{}{name}", self.prefix);
        sh(&["ip", "netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// A veth pair `a_if` in `a` and `b_if` in `b`, addressed and up.
    fn link(a: &str, a_if: &str, a_addr: &str, b: &str, b_if: &str, b_addr: &str) {
        sh(&[
            "ip", "-n", a, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b,
        ]);
        for (ns, dev, addr) in [(a, a_if, a_addr), (b, b_if, b_addr)] {
            sh(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
    }

    fn forward(ns: &str) {
        sh(&[
            "ip",
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
    }

    /// A home router: forwards, masquerades what leaves by `wan`, and drops what arrives on
    /// `wan` unasked (a connection nobody inside opened), silently, as home routers do.
    ///
    /// The drop is also what lets a hole punch through two such routers work: an unasked
    /// packet that the router answered itself (a TCP reset, an ICMP "port unreachable") would
    /// leave a connection-tracking entry for that pair of addresses, and the router would then
    /// give the inside node's own packet to the same peer a different outside port than the
    /// one its peer was told to dial. A dropped packet leaves no entry.
    fn masquerade(ns: &str) {
        Lab::forward(ns);
        let nft = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", ns, "nft"];
            all.extend_from_slice(args);
            sh(&all);
        };
        nft(&["add", "table", "inet", "home"]);
        for hook in ["input", "forward"] {
            nft(&[
                "add",
                "chain",
                "inet",
                "home",
                hook,
                &format!("{{ type filter hook {hook} priority 0 ; }}"),
            ]);
            nft(&[
                "add", "rule", "inet", "home", hook, "iifname", "wan", "ct", "state", "new", "drop",
            ]);
        }
        sh(&[
            "ip", "netns", "exec", ns, "nft", "add", "table", "ip", "nat",
        ]);
        sh(&[
            "ip",
            "netns",
            "exec",
            ns,
            "nft",
            "add",
            "chain",
            "ip",
            "nat",
            "post",
            "{ type nat hook postrouting priority 100 ; }",
        ]);
        sh(&[
            "ip",
            "netns",
            "exec",
            ns,
            "nft",
            "add",
            "rule",
            "ip",
            "nat",
            "post",
            "oifname",
            "wan",
            "masquerade",
        ]);
    }

    fn home(&mut self, ns: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        self.homes.push(dir);
        let n = Node {
            ns: ns.to_string(),
            home,
        };
        let o = n.cmd(&["init", "--location", "52.52,13.405", "--currency", "EUR"]);
        assert!(o.status.success());
        n
    }

    /// Starts `swapmeet node` in the node's namespace on `port` (TCP and QUIC), dialling
    /// `bootstrap` (over both).
    fn start(&mut self, n: &Node, port: u16, bootstrap: Option<(&str, u16, &str)>) {
        let node_file = n.home.join("node.json");
        let tcp = format!("/ip4/0.0.0.0/tcp/{port}");
        let quic = format!("/ip4/0.0.0.0/udp/{port}/quic-v1");
        let mut args = vec![
            "netns",
            "exec",
            &n.ns,
            BIN,
            "node",
            "--api",
            "127.0.0.1:0",
            "--no-mdns",
            "--listen",
            &tcp,
            "--listen",
            &quic,
        ];
        let boot: Vec<String> = bootstrap
            .map(|(ip, port, peer)| {
                vec![
                    format!("/ip4/{ip}/tcp/{port}/p2p/{peer}"),
                    format!("/ip4/{ip}/udp/{port}/quic-v1/p2p/{peer}"),
                ]
            })
            .unwrap_or_default();
        for b in &boot {
            args.extend(["--bootstrap", b.as_str()]);
        }
        let log = std::fs::File::create(n.home.join("node.log")).unwrap();
        let child = Command::new("ip")
            .args(&args)
            .env("SWAPMEET_HOME", &n.home)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.nodes.push(child);
        wait_for("the node to start", || node_file.exists().then_some(()));
    }
}

fn peer_id(n: &Node) -> String {
    n.json(&["id"]).remove(0)["peer_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn log_tail(home: &Path) -> String {
    let text = std::fs::read_to_string(home.join("node.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

#[test]
fn two_nodes_behind_two_nats_meet_through_a_relay_talk_and_punch_a_direct_connection() {
    require_root_ip_nft();
    let mut lab = Lab::new();
    let r = lab.ns("r");
    let (ga, gb) = (lab.ns("ga"), lab.ns("gb"));
    let (ha, hb) = (lab.ns("ha"), lab.ns("hb"));
    Lab::link(&r, "ra", "10.99.1.1/24", &ga, "wan", "10.99.1.2/24");
    Lab::link(&r, "rb", "10.99.2.1/24", &gb, "wan", "10.99.2.2/24");
    Lab::link(&ga, "lan", "192.168.1.1/24", &ha, "eth0", "192.168.1.2/24");
    Lab::link(&gb, "lan", "192.168.2.1/24", &hb, "eth0", "192.168.2.2/24");
    Lab::forward(&r);
    Lab::masquerade(&ga);
    Lab::masquerade(&gb);
    sh(&[
        "ip",
        "-n",
        &ga,
        "route",
        "add",
        "default",
        "via",
        "10.99.1.1",
    ]);
    sh(&[
        "ip",
        "-n",
        &gb,
        "route",
        "add",
        "default",
        "via",
        "10.99.2.1",
    ]);
    sh(&[
        "ip",
        "-n",
        &ha,
        "route",
        "add",
        "default",
        "via",
        "192.168.1.1",
    ]);
    sh(&[
        "ip",
        "-n",
        &hb,
        "route",
        "add",
        "default",
        "via",
        "192.168.2.1",
    ]);

    // The relay R and the helper P on the "internet"; R dials P, and P's AutoNAT server
    // dials R back.
    let p = lab.home(&r);
    let relay = lab.home(&r);
    let (p_id, relay_id) = (peer_id(&p), peer_id(&relay));
    lab.start(&p, 4002, None);
    lab.start(&relay, 4001, Some(("10.99.1.1", 4002, &p_id)));
    wait_for(
        "AutoNAT to confirm the relay public, and it to relay",
        || {
            let st = relay.status();
            let r = &st["reachability"];
            (r["state"] == "public" && r["relay_serving"] == true).then_some(())
        },
    );

    let a = lab.home(&ha);
    let b = lab.home(&hb);
    let started = Instant::now();
    lab.start(&a, 4001, Some(("10.99.1.1", 4001, &relay_id)));
    lab.start(&b, 4001, Some(("10.99.2.1", 4001, &relay_id)));
    // P is public too (R's AutoNAT server dials it back), so either may be the relay.
    let mut via = String::new();
    for n in [&a, &b] {
        wait_for("a home node to listen through the relay", || {
            let st = n.status();
            let r = &st["reachability"];
            if r["state"] == "relayed"
                && (r["relay"] == relay_id.as_str() || r["relay"] == p_id.as_str())
            {
                if n.home == a.home {
                    via = r["relay"].as_str().unwrap_or_default().to_string();
                }
                assert_eq!(r["kad_mode"], "client", "behind NAT, Kademlia is a client");
                Some(())
            } else {
                None
            }
        });
    }
    eprintln!(
        "both home nodes listening through the relay {:.1} s after starting",
        started.elapsed().as_secs_f64()
    );
    let human = String::from_utf8(a.cmd(&["status"]).stdout).unwrap();
    assert!(
        human.contains(&format!("behind NAT via relay {via}")),
        "{human}"
    );

    // B joins A by A's invite (its circuit address through R).
    let id = a.json(&[
        "sell",
        "--title",
        "Tandem behind a NAT",
        "--price",
        "90 EUR",
    ])[0]["id"]
        .as_str()
        .map(String::from)
        .unwrap_or_default();
    let invite = a.json(&["invite"]).remove(0);
    assert!(
        invite["addresses"][0]
            .as_str()
            .unwrap()
            .contains("/p2p-circuit/"),
        "{invite}"
    );
    let joined_at = Instant::now();
    let joined = b
        .json(&["join", invite["invite"].as_str().unwrap()])
        .remove(0);
    assert_eq!(joined["connected"], true, "{joined}\n{}", log_tail(&b.home));
    eprintln!(
        "B connected to A through the relay in {:.2} s",
        joined_at.elapsed().as_secs_f64()
    );

    // A's listing reaches B; B writes about it, A answers.
    let hits = wait_for("A's listing at B", || {
        let o = b.cmd(&["--json", "search", "tandem"]);
        let hits: Vec<Value> = String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (!hits.is_empty()).then_some(hits)
    });
    let listing = hits[0]["id"].as_str().unwrap().to_string();
    if !id.is_empty() {
        assert_eq!(listing, id);
    }
    let sent = b.json(&["message", &listing, "Still there?"]).remove(0);
    let thread = sent["thread"].as_str().unwrap().to_string();
    wait_for("B's message to reach A", || {
        let inbox = a.json(&["inbox"]);
        inbox
            .iter()
            .any(|t| t["thread"] == thread.as_str())
            .then_some(())
    });
    a.json(&["message", &thread, "Yes, come by."]);
    wait_for("A's answer to reach B", || {
        let t = b.json(&["thread", &thread, "--keep-unread"]).remove(0);
        t["conversation"]
            .as_array()
            .is_some_and(|c| c.iter().any(|m| m["text"] == "Yes, come by."))
            .then_some(())
    });

    // DCUtR: A and B punch a direct connection through both NATs. Both routers keep the
    // inside port when they masquerade and drop what arrives unasked, as home routers do, so
    // the punch must work: each side's first packet opens its own router for the other's
    // (TCP simultaneous open, or QUIC). Answering instead of dropping (see `masquerade`)
    // made it fail in most runs.
    let a_id = peer_id(&a);
    let b_id = peer_id(&b);
    let punched = |n: &Node, other: &str| {
        let r = n.status()["reachability"].clone();
        let ok = r["direct_after_hole_punch"]
            .as_array()
            .is_some_and(|l| l.iter().any(|p| p["peer"] == other));
        (ok, r["hole_punch_failures"].as_u64().unwrap_or(0))
    };
    let direct = wait_for("DCUtR's verdict on A and B", || {
        let (a_ok, a_failed) = punched(&a, &b_id);
        let (b_ok, b_failed) = punched(&b, &a_id);
        if a_ok || b_ok {
            Some(true)
        } else if a_failed + b_failed > 0 {
            Some(false)
        } else {
            None
        }
    });
    assert!(
        direct,
        "the hole punch between A and B failed\nA: {}\nB: {}",
        log_tail(&a.home),
        log_tail(&b.home)
    );
    eprintln!(
        "direct connection after the hole punch {:.2} s after B joined",
        joined_at.elapsed().as_secs_f64()
    );
    // The peers list shows the direct connection, through the other router's address.
    wait_for("the direct connection in the peers list", || {
        let via = |n: &Node, other: &str, router: &str| {
            n.json(&["peers"]).iter().any(|p| {
                p["peer_id"] == other
                    && p["address"]
                        .as_str()
                        .is_some_and(|a| a.contains(router) && !a.contains("p2p-circuit"))
            })
        };
        (via(&b, &a_id, "10.99.1.2") || via(&a, &b_id, "10.99.2.2")).then_some(())
    });
    let human = String::from_utf8(a.cmd(&["status"]).stdout).unwrap()
        + &String::from_utf8(b.cmd(&["status"]).stdout).unwrap();
    assert!(human.contains("direct after hole punch"), "{human}");
}

/// The answer to one DNS query: the TXT `records` for `name`, an empty answer for another type
/// of `name`, and "no such name" for any other name; and whether it asked for `name`. `None`
/// for what is not a query of one question.
fn dns_answer(q: &[u8], name: &str, records: &[String]) -> Option<(Vec<u8>, bool)> {
    if q.len() < 12 || q[2] & 0x80 != 0 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question = q.get(12..i + 4)?;
    let known = labels.join(".") == name;
    let answers: &[String] = if known && qtype == 16 { records } else { &[] };
    let mut r = Vec::with_capacity(512);
    r.extend_from_slice(&q[0..2]);
    // A response, authoritative, recursion desired as asked; recursion available, and
    // NOERROR or NXDOMAIN.
    r.push(0x84 | (q[2] & 0x01));
    r.push(if known { 0x80 } else { 0x83 });
    for count in [1, answers.len() as u16, 0, 0] {
        r.extend_from_slice(&count.to_be_bytes());
    }
    r.extend_from_slice(question);
    for txt in answers {
        // The name as a pointer to the question's, TXT, IN, a minute, one string.
        r.extend_from_slice(&[0xC0, 0x0C, 0, 16, 0, 1, 0, 0, 0, 60]);
        r.extend_from_slice(&((txt.len() + 1) as u16).to_be_bytes());
        r.push(txt.len() as u8);
        r.extend_from_slice(txt.as_bytes());
    }
    Some((r, known))
}

/// A DNS server for one name on `sock` until `stop`; counts the queries for that name.
fn serve_dns(
    sock: UdpSocket,
    name: String,
    records: Vec<String>,
    stop: Arc<AtomicBool>,
    asked: Arc<AtomicUsize>,
) {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if let Some((reply, known)) = dns_answer(&buf[..n], &name, &records) {
            if known {
                asked.fetch_add(1, Ordering::Relaxed);
            }
            let _ = sock.send_to(&reply, from);
        }
    }
}

#[test]
fn a_node_finds_its_first_peer_through_a_dnsaddr_domain() {
    require_root_ip_nft();
    let mut lab = Lab::new();
    let (nb, na) = (lab.ns("db"), lab.ns("da"));
    Lab::link(&nb, "eth0", "10.97.0.1/24", &na, "eth0", "10.97.0.2/24");
    // A's resolver: a DNS server in this process, across a link from this namespace.
    let root_if = format!("{}dns", lab.prefix);
    sh(&[
        "ip", "link", "add", &root_if, "type", "veth", "peer", "name", "dns", "netns", &na,
    ]);
    sh(&["ip", "addr", "add", "10.96.0.1/24", "dev", &root_if]);
    sh(&["ip", "link", "set", &root_if, "up"]);
    sh(&["ip", "-n", &na, "addr", "add", "10.96.0.2/24", "dev", "dns"]);
    sh(&["ip", "-n", &na, "link", "set", "dns", "up"]);
    lab.resolv_conf(&na, "nameserver 10.96.0.1\n");

    // B, the bootstrap peer, and the records that name it.
    let b = lab.home(&nb);
    lab.start(&b, 4001, None);
    let b_id = peer_id(&b);
    let domain = "boot.swapmeet.test";
    let records = vec![
        format!("dnsaddr=/ip4/10.97.0.1/tcp/4001/p2p/{b_id}"),
        format!("dnsaddr=/ip4/10.97.0.1/udp/4001/quic-v1/p2p/{b_id}"),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicUsize::new(0));
    let server = {
        let sock = UdpSocket::bind("10.96.0.1:53").unwrap();
        let (stop, asked) = (stop.clone(), asked.clone());
        let name = format!("_dnsaddr.{domain}");
        std::thread::spawn(move || serve_dns(sock, name, records, stop, asked))
    };

    // A knows no peer: only the domain, in its config.
    let a = lab.home(&na);
    let path = a.home.join("config.toml");
    let mut config: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let node = config
        .entry("node")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    node.as_table_mut().unwrap().insert(
        "bootstrap_dnsaddr".into(),
        toml::Value::Array(vec![toml::Value::String(format!("{domain}."))]),
    );
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    lab.start(&a, 4002, None);

    wait_for("A to connect to B, found through DNS", || {
        a.json(&["peers"])
            .iter()
            .any(|p| p["peer_id"] == b_id.as_str())
            .then_some(())
    });
    assert!(asked.load(Ordering::Relaxed) >= 1, "A asked the DNS server");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
}
