//! Splitting a byte stream into whole frames: a 4-byte big-endian length, then that many
//! bytes. The proxy forwards frames as they came (header included), so it never needs to
//! understand a payload.
//!
//! The reader is cancel-safe: bytes read are kept in the reader's buffer, so a wait for the
//! next frame can be abandoned (a reorder hold timing out) and resumed without loss.

use tokio::io::{AsyncRead, AsyncReadExt};

pub const HEADER_BYTES: usize = 4;

/// How much one `read` asks for.
const READ_CHUNK: usize = 64 * 1024;

/// Reads whole frames from a stream.
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Start of unconsumed bytes in `buf`.
    start: usize,
    max_frame_bytes: usize,
}

/// Why the stream stopped yielding frames.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameEnd {
    /// Clean end of stream at a frame boundary.
    Closed,
    /// The stream broke framing or failed; the message says how.
    Broken(String),
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(inner: R, max_frame_bytes: usize) -> Self {
        FrameReader { inner, buf: Vec::with_capacity(READ_CHUNK), start: 0, max_frame_bytes }
    }

    /// The next whole frame, header included.
    pub async fn next(&mut self) -> Result<Vec<u8>, FrameEnd> {
        loop {
            if let Some(frame) = self.take()? {
                return Ok(frame);
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            self.buf.reserve(READ_CHUNK);
            let n = match self.inner.read_buf(&mut self.buf).await {
                Ok(n) => n,
                Err(e) => return Err(FrameEnd::Broken(format!("read failed: {e}"))),
            };
            if n == 0 {
                return if self.buf.is_empty() {
                    Err(FrameEnd::Closed)
                } else {
                    Err(FrameEnd::Broken(format!(
                        "stream closed inside a frame ({} bytes pending)",
                        self.buf.len()
                    )))
                };
            }
        }
    }

    fn take(&mut self) -> Result<Option<Vec<u8>>, FrameEnd> {
        let pending = &self.buf[self.start..];
        if pending.len() < HEADER_BYTES {
            return Ok(None);
        }
        let header: [u8; HEADER_BYTES] = pending[..HEADER_BYTES].try_into().expect("4 bytes");
        let announced = u32::from_be_bytes(header) as usize;
        if announced > self.max_frame_bytes {
            return Err(FrameEnd::Broken(format!(
                "frame of {announced} bytes exceeds the limit of {} bytes",
                self.max_frame_bytes
            )));
        }
        let whole = HEADER_BYTES + announced;
        if pending.len() < whole {
            return Ok(None);
        }
        let frame = pending[..whole].to_vec();
        self.start += whole;
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        f
    }

    #[tokio::test]
    async fn splits_frames_and_refuses_oversized_and_truncated() {
        let mut bytes = frame(b"one");
        bytes.extend(frame(b""));
        bytes.extend(frame(b"three"));
        let mut reader = FrameReader::new(&bytes[..], 16);
        assert_eq!(reader.next().await.unwrap(), frame(b"one"));
        assert_eq!(reader.next().await.unwrap(), frame(b""));
        assert_eq!(reader.next().await.unwrap(), frame(b"three"));
        assert_eq!(reader.next().await, Err(FrameEnd::Closed));

        let big = frame(&[7u8; 17]);
        assert!(matches!(FrameReader::new(&big[..], 16).next().await, Err(FrameEnd::Broken(_))));
        let cut = &frame(b"abc")[..5];
        assert!(matches!(FrameReader::new(cut, 16).next().await, Err(FrameEnd::Broken(_))));
    }
}
