//! A system's version, as its binary reports it, for `run.json`.
//!
//! Asked once per run with `<program> --version`; a binary that is missing or prints
//! something unexpected gives a version string that says so rather than an error, because
//! the version is a record, not a precondition (starting the nodes fails loudly enough).

use std::path::Path;

/// `program --version`, parsed; on any failure a line saying what went wrong.
pub fn program_version(program: &Path, parse: fn(&str) -> Option<String>) -> String {
    match std::process::Command::new(program).arg("--version").output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            parse(&text).unwrap_or_else(|| {
                let first = text.lines().next().unwrap_or_default();
                format!("unknown ({} printed {first:?})", program.display())
            })
        }
        Err(e) => format!("unknown ({} --version: {e})", program.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_or_an_unexpected_line_says_unknown() {
        let v = program_version(Path::new("/nonexistent/etcd"), |_| Some("1".into()));
        assert!(v.starts_with("unknown (/nonexistent/etcd --version"), "{v}");
        let v = program_version(Path::new("/bin/true"), |_| None);
        assert!(v.starts_with("unknown (/bin/true printed"), "{v}");
        assert!(!v.contains("Copyright"), "the first line only: {v}");
        assert_eq!(program_version(Path::new("/bin/true"), |_| Some("9.1".into())), "9.1");
    }
}
