//! Framing: each message is a four-byte little-endian body length followed by the body. A
//! message is written with one `write_all`, so a small call is one system call each way.

use std::io::{self, Read, Write};

/// The largest frame either side accepts (256 MiB). A larger length is a protocol error, so a
/// hostile length cannot make the reader reserve memory.
pub const MAX_FRAME: usize = 256 << 20;

/// Writes one frame whose body `encode` appends to `buffer` (cleared first, reused between
/// messages to avoid an allocation per message).
pub fn write_frame(writer: &mut impl Write, buffer: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
    encode_frame(buffer, encode)?;
    writer.write_all(buffer)
}

/// Makes `buffer` one frame (header and body) whose body `encode` appends; for channels that
/// are not byte streams of their own (the sandbox's shared-memory rings).
pub fn encode_frame(buffer: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
    buffer.clear();
    buffer.extend_from_slice(&[0; 4]);
    encode(buffer);
    let length = buffer.len() - 4;
    if length > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("message of {length} bytes is larger than the limit of {MAX_FRAME}"),
        ));
    }
    buffer[..4].copy_from_slice(&(length as u32).to_le_bytes());
    Ok(())
}

/// Reads one frame's body into `buffer`. Returns `Ok(false)` when the stream ended cleanly
/// before a frame began; a stream that ends inside a frame is `UnexpectedEof`.
pub fn read_frame(reader: &mut impl Read, buffer: &mut Vec<u8>) -> io::Result<bool> {
    let mut header = [0u8; 4];
    let mut filled = 0;
    while filled < 4 {
        match reader.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    let length = u32::from_le_bytes(header) as usize;
    if length > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {length} bytes is larger than the limit of {MAX_FRAME}"),
        ));
    }
    buffer.clear();
    // `take` + `read_to_end` grows the buffer as bytes arrive instead of trusting the length.
    let read = reader.take(length as u64).read_to_end(buffer)?;
    if read < length {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(true)
}
