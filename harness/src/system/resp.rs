//! A small RESP2 client: the Redis wire protocol, for the Redis adapter.
//!
//! A command goes out as an array of bulk strings; a reply is a simple string, an error, an
//! integer, a bulk string, an array (possibly nested) or nil. The parser ([`parse`]) is
//! pure: it takes the bytes received so far and returns a whole reply, "need more bytes",
//! or an error. A peer that is broken or hostile cannot make us allocate without bound:
//! every line, bulk string, array, nesting depth and the reply as a whole has a limit
//! ([`Limits`]), and declared lengths are checked against them before anything is reserved.
//! A malformed reply is an error, never a panic.
//!
//! [`Connection`] is one TCP connection that sends a command and reads its reply. It has no
//! timeouts of its own: the caller bounds each step, because what a timeout *means* (the
//! command was never sent, or it may have run) depends on the step it hit.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR message`: the whole line after `-`, its first word being the error's kind.
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nabc`; `None` is the nil bulk string `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...`; `None` is the nil array `*-1`.
    Array(Option<Vec<Reply>>),
}

/// Bounds on what a reply may make us hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest header or simple line, CRLF excluded.
    pub max_line_bytes: usize,
    /// Longest bulk string.
    pub max_bulk_bytes: usize,
    /// Most elements in one array.
    pub max_array_elements: usize,
    /// Deepest nesting of arrays.
    pub max_depth: usize,
    /// Most bytes one reply may occupy on the wire (and so in our buffer).
    pub max_reply_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: 64 * 1024,
            max_bulk_bytes: 8 * 1024 * 1024,
            max_array_elements: 1_000_000,
            max_depth: 8,
            max_reply_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A reply that breaks the protocol or a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed RESP reply: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Why a call on a [`Connection`] did not produce a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The connection failed or closed while sending or waiting: the command may have run.
    Io(String),
    /// The peer answered something that is not a RESP reply within our limits.
    Protocol(ProtocolError),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Io(e) => write!(f, "{e}"),
            CallError::Protocol(e) => write!(f, "{e}"),
        }
    }
}

/// The bytes of one command: an array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parse one reply from the front of `buf`: `Ok(Some((reply, bytes used)))`, `Ok(None)` when
/// `buf` holds only the beginning of a reply, or an error when it can never become one.
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let mut parser = Parser { buf, pos: 0, limits };
    match parser.reply(0) {
        Ok(reply) => Ok(Some((reply, parser.pos))),
        Err(Stop::Incomplete) if buf.len() > limits.max_reply_bytes => {
            Err(ProtocolError(format!("reply longer than {} bytes", limits.max_reply_bytes)))
        }
        Err(Stop::Incomplete) => Ok(None),
        Err(Stop::Bad(e)) => Err(ProtocolError(e)),
    }
}

/// One connection to a RESP server.
pub struct Connection {
    stream: TcpStream,
    /// Received bytes not yet consumed by a reply.
    buf: Vec<u8>,
    limits: Limits,
}

impl Connection {
    /// Open a connection (no timeout: the caller bounds it).
    pub async fn connect(addr: SocketAddr, limits: Limits) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream, buf: Vec::new(), limits })
    }

    /// Close at once with a reset instead of the usual handshake, once every reply is in.
    /// The closing side of a TCP connection keeps its port in TIME_WAIT for a minute; a
    /// client opening a connection per command at a few hundred commands a second would
    /// otherwise run out of ports to each node.
    pub fn close_now(self) {
        // A zero linger never blocks; the deprecation is about non-zero ones.
        #[allow(deprecated)]
        let _ = self.stream.set_linger(Some(std::time::Duration::ZERO));
    }

    /// Send one command and read its reply (no timeout: the caller bounds it). An error
    /// reply (`-ERR ...`) is a successful call returning [`Reply::Error`].
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Reply, CallError> {
        self.stream.write_all(&encode(args)).await.map_err(|e| CallError::Io(format!("sending: {e}")))?;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if !self.buf.is_empty() {
                if let Some((reply, used)) = parse(&self.buf, &self.limits).map_err(CallError::Protocol)? {
                    self.buf.drain(..used);
                    return Ok(reply);
                }
            }
            let n =
                self.stream.read(&mut chunk).await.map_err(|e| CallError::Io(format!("receiving: {e}")))?;
            if n == 0 {
                return Err(CallError::Io("connection closed before the reply was complete".into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Why parsing stopped short of a reply.
enum Stop {
    /// More bytes may complete it.
    Incomplete,
    /// It can never be a reply.
    Bad(String),
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: &'a Limits,
}

impl<'a> Parser<'a> {
    fn reply(&mut self, depth: usize) -> Result<Reply, Stop> {
        let line = self.line()?;
        let (&kind, rest) = line.split_first().ok_or_else(|| Stop::Bad("empty line".into()))?;
        match kind {
            b'+' => Ok(Reply::Simple(text(rest)?)),
            b'-' => Ok(Reply::Error(text(rest)?)),
            b':' => Ok(Reply::Integer(integer(rest)?)),
            b'$' => {
                let Some(len) = length(rest, self.limits.max_bulk_bytes, "bulk string")? else {
                    return Ok(Reply::Bulk(None));
                };
                let end = self.pos.checked_add(len).ok_or_else(|| Stop::Bad("length overflow".into()))?;
                if self.buf.len() < end + 2 {
                    return Err(Stop::Incomplete);
                }
                if &self.buf[end..end + 2] != b"\r\n" {
                    return Err(Stop::Bad(format!("bulk string of {len} bytes not followed by CRLF")));
                }
                let bytes = self.buf[self.pos..end].to_vec();
                self.pos = end + 2;
                Ok(Reply::Bulk(Some(bytes)))
            }
            b'*' => {
                let Some(count) = length(rest, self.limits.max_array_elements, "array")? else {
                    return Ok(Reply::Array(None));
                };
                if depth + 1 > self.limits.max_depth {
                    return Err(Stop::Bad(format!("arrays nested deeper than {}", self.limits.max_depth)));
                }
                // Reserve by what has arrived, not by what the peer declares.
                let mut items = Vec::with_capacity(count.min(1024));
                for _ in 0..count {
                    items.push(self.reply(depth + 1)?);
                }
                Ok(Reply::Array(Some(items)))
            }
            other => Err(Stop::Bad(format!("unknown reply type byte 0x{other:02x}"))),
        }
    }

    /// The next line without its CRLF.
    fn line(&mut self) -> Result<&'a [u8], Stop> {
        let buf: &'a [u8] = self.buf;
        let rest = &buf[self.pos..];
        let window = &rest[..rest.len().min(self.limits.max_line_bytes + 2)];
        match window.windows(2).position(|w| w == b"\r\n") {
            Some(end) => {
                let line = &rest[..end];
                self.pos += end + 2;
                Ok(line)
            }
            None if rest.len() >= self.limits.max_line_bytes + 2 => {
                Err(Stop::Bad(format!("line longer than {} bytes", self.limits.max_line_bytes)))
            }
            None => Err(Stop::Incomplete),
        }
    }
}

fn text(bytes: &[u8]) -> Result<String, Stop> {
    if bytes.contains(&b'\r') || bytes.contains(&b'\n') {
        return Err(Stop::Bad("line break inside a simple line".into()));
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| Stop::Bad("a simple line that is not UTF-8".into()))
}

fn integer(bytes: &[u8]) -> Result<i64, Stop> {
    let digits = std::str::from_utf8(bytes).map_err(|_| Stop::Bad("an integer that is not ASCII".into()))?;
    let valid = {
        let unsigned = digits.strip_prefix('-').unwrap_or(digits);
        !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit())
    };
    if !valid {
        return Err(Stop::Bad(format!("{digits:?} is not an integer")));
    }
    digits.parse().map_err(|_| Stop::Bad(format!("{digits:?} does not fit 64 bits")))
}

/// A declared length: `None` for nil (`-1`), an error when negative otherwise or over `max`.
fn length(bytes: &[u8], max: usize, what: &str) -> Result<Option<usize>, Stop> {
    let n = integer(bytes)?;
    if n == -1 {
        return Ok(None);
    }
    let n = usize::try_from(n).map_err(|_| Stop::Bad(format!("{what} of negative length {n}")))?;
    if n > max {
        return Err(Stop::Bad(format!("{what} of {n} exceeds the limit of {max}")));
    }
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
        parse(bytes, &Limits::default())
    }

    fn whole(bytes: &[u8]) -> Reply {
        let (reply, used) = one(bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len(), "the whole input is one reply");
        reply
    }

    #[test]
    fn a_command_is_an_array_of_bulk_strings() {
        assert_eq!(encode(&[b"SET", b"r1", b""]), b"*3\r\n$3\r\nSET\r\n$2\r\nr1\r\n$0\r\n\r\n".to_vec());
        assert_eq!(
            whole(&encode(&[b"GET", b"k"])),
            Reply::Array(Some(vec![Reply::Bulk(Some(b"GET".to_vec())), Reply::Bulk(Some(b"k".to_vec())),]))
        );
    }

    #[test]
    fn every_reply_type_parses() {
        assert_eq!(whole(b"+OK\r\n"), Reply::Simple("OK".into()));
        assert_eq!(whole(b"-READONLY no\r\n"), Reply::Error("READONLY no".into()));
        assert_eq!(whole(b":-42\r\n"), Reply::Integer(-42));
        assert_eq!(whole(b"$5\r\na\r\nbc\r\n"), Reply::Bulk(Some(b"a\r\nbc".to_vec())));
        assert_eq!(whole(b"$0\r\n\r\n"), Reply::Bulk(Some(Vec::new())));
        assert_eq!(whole(b"$-1\r\n"), Reply::Bulk(None));
        assert_eq!(whole(b"*-1\r\n"), Reply::Array(None));
        assert_eq!(whole(b"*0\r\n"), Reply::Array(Some(vec![])));
        assert_eq!(
            whole(b"*2\r\n*1\r\n:1\r\n$-1\r\n"),
            Reply::Array(Some(vec![Reply::Array(Some(vec![Reply::Integer(1)])), Reply::Bulk(None)]))
        );
    }

    #[test]
    fn a_partial_reply_asks_for_more_and_trailing_bytes_are_left() {
        let full = b"*2\r\n$3\r\nabc\r\n:7\r\n";
        for cut in 0..full.len() {
            assert_eq!(one(&full[..cut]), Ok(None), "prefix of {cut} bytes");
        }
        let (_, used) = one(b"+OK\r\n:1\r\n").unwrap().unwrap();
        assert_eq!(used, 5);
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        let bad: &[&[u8]] = &[
            b"?what\r\n",
            b"\r\n",
            b":12a\r\n",
            b":\r\n",
            b":-\r\n",
            b":99999999999999999999\r\n",
            b"$-2\r\n",
            b"*-5\r\n",
            b"$3\r\nabcde\r\n",
            b"$x\r\n",
            b"+\xff\xfe\r\n",
            b"*1\r\n!\r\n",
        ];
        for bytes in bad {
            assert!(one(bytes).is_err(), "{:?} should be refused", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn limits_stop_hostile_sizes_before_allocating() {
        let limits = Limits {
            max_line_bytes: 16,
            max_bulk_bytes: 10,
            max_array_elements: 3,
            max_depth: 2,
            max_reply_bytes: 64,
        };
        let p = |b: &[u8]| parse(b, &limits);
        assert!(p(b"$11\r\n").is_err(), "declared bulk over the limit is refused at once");
        assert!(p(b"$9223372036854775807\r\n").is_err());
        assert!(p(b"*4\r\n").is_err(), "declared array over the limit is refused at once");
        assert!(p(b"*1\r\n*1\r\n*1\r\n:1\r\n").is_err(), "too deep");
        assert!(p(b"*1\r\n*1\r\n:1\r\n").unwrap().is_some(), "depth 2 is fine");
        assert!(p(&[b'+'; 40]).is_err(), "a line without end is refused past the line limit");
        assert_eq!(p(&[b'+'; 10]), Ok(None), "a short unfinished line waits");
        let mut long = b"*3\r\n$10\r\n".to_vec();
        long.extend_from_slice(&[b'a'; 10]);
        long.extend_from_slice(b"\r\n$10\r\nbbbbb");
        assert_eq!(long.len(), 31);
        assert_eq!(p(&long), Ok(None), "an unfinished reply within max_reply_bytes waits");
        let small = Limits { max_reply_bytes: 20, ..limits };
        assert!(parse(&long, &small).is_err(), "an unfinished reply past max_reply_bytes is refused");
    }

    #[tokio::test]
    async fn a_connection_sends_and_reads_replies_split_across_packets() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let expected = encode(&[b"PING"]);
            while got.len() < expected.len() {
                let mut buf = [0u8; 64];
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, expected);
            for piece in [&b"$4\r\nPO"[..], b"NG\r", b"\n-ERR x\r\n"] {
                socket.write_all(piece).await.unwrap();
                socket.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
            // Then hang up mid-reply.
            socket.write_all(b":1").await.unwrap();
        });
        let mut conn = Connection::connect(addr, Limits::default()).await.unwrap();
        assert_eq!(conn.call(&[b"PING"]).await, Ok(Reply::Bulk(Some(b"PONG".to_vec()))));
        // The error reply already buffered answers the next call.
        assert_eq!(conn.call(&[b"PING"]).await, Ok(Reply::Error("ERR x".into())));
        server.await.unwrap();
        assert!(matches!(conn.call(&[b"PING"]).await, Err(CallError::Io(_))));
    }

    #[tokio::test]
    async fn close_now_resets_instead_of_lingering() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conn = Connection::connect(addr, Limits::default()).await.unwrap();
        let (mut socket, _) = listener.accept().await.unwrap();
        conn.close_now();
        let mut buf = [0u8; 8];
        let got = socket.read(&mut buf).await;
        assert_eq!(
            got.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset),
            "a reset, so no TIME_WAIT on our side"
        );
    }

    #[tokio::test]
    async fn a_garbage_answer_is_a_protocol_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            let mut buf = [0u8; 64];
            let _ = socket.read(&mut buf).await;
        });
        let mut conn = Connection::connect(addr, Limits::default()).await.unwrap();
        assert!(matches!(conn.call(&[b"PING"]).await, Err(CallError::Protocol(_))));
    }
}
