//! Quoting for the POSIX shell that runs a remote command: an SSH server hands the command
//! to the user's shell as one string, so every word faultline puts in it (paths, a node's
//! arguments) is quoted here, and only here.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// `word` as one shell word: unchanged when it is made of safe characters only, otherwise
/// in single quotes with each `'` written as `'\''`.
pub fn quote(word: &str) -> String {
    let safe =
        !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// An OS string as one shell word; bytes that are not UTF-8 are refused, not mangled.
pub fn quote_os(word: &OsStr) -> anyhow::Result<String> {
    match std::str::from_utf8(word.as_bytes()) {
        Ok(text) => Ok(quote(text)),
        Err(_) => anyhow::bail!("argument {word:?} is not UTF-8 and cannot be sent to a remote shell"),
    }
}

/// Words joined as a command line.
pub fn join<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    words.into_iter().map(quote).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_words_stay_and_others_are_quoted() {
        assert_eq!(quote("/tmp/a-b_c.d"), "/tmp/a-b_c.d");
        assert_eq!(quote("--peer=2=10.0.0.3:7000"), "--peer=2=10.0.0.3:7000");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(join(["echo", "a;b"]), "echo 'a;b'");
        assert!(quote_os(OsStr::from_bytes(b"\xff")).is_err());
    }
}
