//! The peer wire format: length-prefixed JSON frames and the opening handshake.
//!
//! A frame is a 4-byte big-endian length `N` followed by `N` bytes of JSON. The first frame
//! on every connection is a [`Hello`] from the connecting side; every later frame is one
//! protocol message. Each connection carries frames one way only (the connecting side
//! writes, the accepting side reads), so a fault proxy listening on the address a node was
//! given for one peer sees exactly that directed link's frames.
//!
//! Nothing read here is trusted: a length over the limit or a payload that does not decode
//! is an error that closes the connection, never a panic and never an allocation of the
//! announced size before the limit check.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::api::NodeId;

/// Bytes of the length prefix.
pub const HEADER_BYTES: usize = 4;

/// The largest handshake frame accepted, whatever the message limit.
pub const MAX_HELLO_BYTES: usize = 4096;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {announced} bytes exceeds the limit of {limit} bytes")]
    TooLarge { announced: usize, limit: usize },
    #[error("connection closed inside a frame ({read} of {expected} bytes)")]
    Truncated { read: usize, expected: usize },
    #[error("undecodable frame: {0}")]
    Malformed(String),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// `payload` with its length prefix.
///
/// Panics if the payload is longer than `u32::MAX` bytes: callers encode protocol messages
/// far below that, and the receiver's limit rejects anything near it.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a frame payload fits in u32");
    let mut frame = Vec::with_capacity(HEADER_BYTES + payload.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// Read one frame's payload. `Ok(None)` is a clean end of stream at a frame boundary.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_frame_bytes: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut header = [0u8; HEADER_BYTES];
    let mut got = 0;
    while got < HEADER_BYTES {
        let n = reader.read(&mut header[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated { read: got, expected: HEADER_BYTES })
            };
        }
        got += n;
    }
    let announced = u32::from_be_bytes(header) as usize;
    if announced > max_frame_bytes {
        return Err(FrameError::TooLarge { announced, limit: max_frame_bytes });
    }
    let mut payload = vec![0u8; announced];
    let mut got = 0;
    while got < announced {
        let n = reader.read(&mut payload[got..]).await?;
        if n == 0 {
            return Err(FrameError::Truncated { read: got, expected: announced });
        }
        got += n;
    }
    Ok(Some(payload))
}

/// The handshake that opens every peer connection: who is sending, and in which protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub from: NodeId,
    pub protocol: String,
}

/// `{"hello": {...}}` on the wire.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HelloEnvelope {
    hello: HelloBody,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HelloBody {
    from: NodeId,
    protocol: String,
}

impl Hello {
    /// The handshake as a complete frame.
    pub fn encode_frame(&self) -> Vec<u8> {
        let envelope =
            HelloEnvelope { hello: HelloBody { from: self.from, protocol: self.protocol.clone() } };
        encode(&serde_json::to_vec(&envelope).expect("a hello serialises"))
    }

    /// Decode a handshake payload (without its length prefix).
    pub fn decode(payload: &[u8]) -> Result<Hello, FrameError> {
        let envelope: HelloEnvelope = serde_json::from_slice(payload)
            .map_err(|e| FrameError::Malformed(format!("bad handshake: {e}")))?;
        Ok(Hello { from: envelope.hello.from, protocol: envelope.hello.protocol })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_end_cleanly() {
        let mut bytes = encode(b"{\"a\":1}");
        bytes.extend(encode(b"[]"));
        let mut reader = &bytes[..];
        assert_eq!(read_frame(&mut reader, 64).await.unwrap().unwrap(), b"{\"a\":1}");
        assert_eq!(read_frame(&mut reader, 64).await.unwrap().unwrap(), b"[]");
        assert!(read_frame(&mut reader, 64).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_oversized_length_is_refused_before_reading_the_payload() {
        let bytes = u32::MAX.to_be_bytes();
        let err = read_frame(&mut &bytes[..], 1024).await.unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { limit: 1024, .. }), "{err}");
    }

    #[tokio::test]
    async fn a_frame_cut_short_is_an_error() {
        let bytes = encode(b"hello world");
        let err = read_frame(&mut &bytes[..8], 1024).await.unwrap_err();
        assert!(matches!(err, FrameError::Truncated { read: 4, expected: 11 }), "{err}");
        let err = read_frame(&mut &bytes[..2], 1024).await.unwrap_err();
        assert!(matches!(err, FrameError::Truncated { read: 2, expected: 4 }), "{err}");
    }

    #[test]
    fn hello_has_the_documented_shape() {
        let hello = Hello { from: 3, protocol: "raft".into() };
        let frame = hello.encode_frame();
        let payload = &frame[HEADER_BYTES..];
        assert_eq!(payload, br#"{"hello":{"from":3,"protocol":"raft"}}"#);
        assert_eq!(Hello::decode(payload).unwrap(), hello);
        assert!(Hello::decode(br#"{"hello":{"from":-1,"protocol":"raft"}}"#).is_err());
        assert!(Hello::decode(b"\xff\x00garbage").is_err());
    }
}
