//! The hosts file of `faultline test --ssh`: one host per line, `id user@host[:port]`.
//!
//! Blank lines and lines starting with `#` are skipped. Ids are node ids: positive, each
//! once, and together exactly 1..=N (the run numbers its nodes so). `host` is an IPv4
//! address or a name; a name is resolved here, once, to an IPv4 address, because cuts are
//! firewall rules on node addresses. Every error names the file's line.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};

use anyhow::bail;
use nodes::api::NodeId;

/// Most hosts in one file.
pub const MAX_HOSTS: usize = 64;
/// The SSH port when a line gives none.
pub const DEFAULT_PORT: u16 = 22;

/// One line of a hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLine {
    pub id: NodeId,
    pub user: String,
    /// As written (an address or a name).
    pub host: String,
    pub port: u16,
}

impl HostLine {
    /// `user@host` (with `:port` only when it is not 22), as written in the file.
    pub fn destination(&self) -> String {
        if self.port == DEFAULT_PORT {
            format!("{}@{}", self.user, self.host)
        } else {
            format!("{}@{}:{}", self.user, self.host, self.port)
        }
    }
}

/// A host with its resolved address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub line: HostLine,
    pub addr: Ipv4Addr,
}

/// Parse a hosts file's text; `what` names the file in errors.
pub fn parse(text: &str, what: &str) -> anyhow::Result<Vec<HostLine>> {
    let mut hosts: BTreeMap<NodeId, HostLine> = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |msg: String| anyhow::anyhow!("{what} line {}: {msg}", n + 1);
        let host = parse_line(line).map_err(at)?;
        if hosts.len() >= MAX_HOSTS {
            return Err(at(format!("more than {MAX_HOSTS} hosts")));
        }
        if hosts.contains_key(&host.id) {
            return Err(at(format!("node id {} is listed twice", host.id)));
        }
        hosts.insert(host.id, host);
    }
    if hosts.is_empty() {
        bail!("{what} lists no hosts (one `id user@host[:port]` per line)");
    }
    let n = hosts.len() as NodeId;
    if let Some(id) = hosts.keys().find(|&&id| id > n) {
        bail!("{what}: node ids must be 1 to {n} for {n} hosts, but {id} is listed");
    }
    Ok(hosts.into_values().collect())
}

fn parse_line(line: &str) -> Result<HostLine, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [id, dest] = fields[..] else {
        return Err(format!("expected `id user@host[:port]`, got {line:?}"));
    };
    let id: NodeId = match id.parse() {
        Ok(id) if id >= 1 => id,
        _ => return Err(format!("node id {id:?} is not a positive integer")),
    };
    let Some((user, rest)) = dest.split_once('@') else {
        return Err(format!("{dest:?} has no user (expected user@host)"));
    };
    if user.is_empty()
        || !user.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        || user.starts_with('-')
    {
        return Err(format!("user {user:?} is not a plain user name"));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(p) if p > 0 => (host, p),
            _ => return Err(format!("port {port:?} is not a port number")),
        },
        None => (rest, DEFAULT_PORT),
    };
    if host.is_empty()
        || host.starts_with('-')
        || !host.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
    {
        return Err(format!("host {host:?} is not an IPv4 address or a host name"));
    }
    Ok(HostLine { id, user: user.to_string(), host: host.to_string(), port })
}

/// Resolve every host to an IPv4 address.
pub fn resolve(lines: Vec<HostLine>) -> anyhow::Result<Vec<SshTarget>> {
    lines
        .into_iter()
        .map(|line| {
            if let Ok(addr) = line.host.parse::<Ipv4Addr>() {
                return Ok(SshTarget { line, addr });
            }
            let found = (line.host.as_str(), line.port)
                .to_socket_addrs()
                .map_err(|e| anyhow::anyhow!("host {} (node {}): cannot resolve: {e}", line.host, line.id))?
                .find_map(|a| match a {
                    SocketAddr::V4(v4) => Some(*v4.ip()),
                    SocketAddr::V6(_) => None,
                });
            match found {
                Some(addr) => Ok(SshTarget { line, addr }),
                None => bail!("host {} (node {}) has no IPv4 address", line.host, line.id),
            }
        })
        .collect()
}

/// Read, parse and resolve a hosts file.
pub fn load(path: &std::path::Path) -> anyhow::Result<Vec<SshTarget>> {
    let what = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading hosts file {what}: {e}"))?;
    resolve(parse(&text, &what)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_and_ports() {
        let text = "# lab\n\n2 root@10.0.0.3:2222\n1 deploy@db-1.example\n";
        let hosts = parse(text, "hosts").unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(
            hosts[0],
            HostLine { id: 1, user: "deploy".into(), host: "db-1.example".into(), port: 22 }
        );
        assert_eq!(hosts[1].port, 2222);
        assert_eq!(hosts[1].destination(), "root@10.0.0.3:2222");
        assert_eq!(hosts[0].destination(), "deploy@db-1.example");
        let resolved = resolve(vec![hosts[1].clone()]).unwrap();
        assert_eq!(resolved[0].addr, Ipv4Addr::new(10, 0, 0, 3));
    }

    #[test]
    fn every_error_names_its_line() {
        for (text, line, needle) in [
            ("1 root@a\nx root@b\n", 2, "node id"),
            ("1 root@a\n1 root@b\n", 2, "twice"),
            ("1 a\n", 1, "no user"),
            ("1 root@a:0\n", 1, "port"),
            ("1 root@a:99999\n", 1, "port"),
            ("1 root@\n", 1, "host"),
            ("1 root@a b\n", 1, "expected"),
            ("1 -oProxyCommand=x@a\n", 1, "user"),
            ("1 root@-oProxy\n", 1, "host"),
            ("0 root@a\n", 1, "positive"),
        ] {
            let err = parse(text, "h.txt").unwrap_err().to_string();
            assert!(err.starts_with(&format!("h.txt line {line}: ")), "{text:?}: {err}");
            assert!(err.contains(needle), "{text:?}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        assert!(parse("# nothing\n", "h").unwrap_err().to_string().contains("no hosts"));
        assert!(parse("1 root@a\n3 root@b\n", "h").unwrap_err().to_string().contains("1 to 2"));
    }
}
