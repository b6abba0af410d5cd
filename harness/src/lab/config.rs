//! The text files of a lab, as pure functions: each sshd's configuration, the hosts file
//! the lab prints, and the known_hosts file that lets clients check the lab's host key.
//!
//! Every sshd is locked down to what the tests need: it listens on its namespace's address
//! only, accepts root by key only (the lab's generated client key, through an
//! AuthorizedKeysFile in the lab directory), and needs no PAM and no strict file modes (the
//! lab directory may live anywhere, such as a test's temporary directory).

use std::net::Ipv4Addr;
use std::path::Path;

use nodes::api::NodeId;

/// The port every lab sshd listens on (each on its own address).
pub const SSH_PORT: u16 = 22;

/// The configuration of node `id`'s sshd in lab directory `dir`.
pub fn sshd_config(dir: &Path, id: NodeId, addr: Ipv4Addr) -> String {
    let d = dir.display();
    format!(
        "# faultline lab: sshd of node {id}\n\
         ListenAddress {addr}:{SSH_PORT}\n\
         HostKey {d}/host_key\n\
         PidFile {d}/sshd-{id}.pid\n\
         AuthorizedKeysFile {d}/authorized_keys\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         PrintMotd no\n\
         MaxStartups 200\n\
         MaxSessions 200\n\
         Subsystem sftp internal-sftp\n\
         LogLevel ERROR\n"
    )
}

/// One hosts-file line per node: `id root@addr`.
pub fn hosts_file(nodes: &[(NodeId, Ipv4Addr)]) -> String {
    nodes.iter().map(|(id, addr)| format!("{id} root@{addr}\n")).collect()
}

/// One known_hosts line per node, all with the lab's host key (`ssh-ed25519 AAAA...`).
pub fn known_hosts(nodes: &[(NodeId, Ipv4Addr)], host_public_key: &str) -> String {
    let key: Vec<&str> = host_public_key.split_whitespace().take(2).collect();
    let key = key.join(" ");
    nodes.iter().map(|(_, addr)| format!("{addr} {key}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sshd_listens_on_its_address_and_takes_keys_from_the_lab() {
        let text = sshd_config(Path::new("/tmp/lab"), 2, Ipv4Addr::new(10, 213, 4, 3));
        for line in [
            "ListenAddress 10.213.4.3:22",
            "HostKey /tmp/lab/host_key",
            "PidFile /tmp/lab/sshd-2.pid",
            "AuthorizedKeysFile /tmp/lab/authorized_keys",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "UsePAM no",
            "StrictModes no",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn hosts_and_known_hosts_list_every_node() {
        let nodes = [(1, Ipv4Addr::new(10, 213, 4, 2)), (2, Ipv4Addr::new(10, 213, 4, 3))];
        assert_eq!(hosts_file(&nodes), "1 root@10.213.4.2\n2 root@10.213.4.3\n");
        let known = known_hosts(&nodes, "ssh-ed25519 AAAAkey root@box\n");
        assert_eq!(known, "10.213.4.2 ssh-ed25519 AAAAkey\n10.213.4.3 ssh-ed25519 AAAAkey\n");
    }
}
