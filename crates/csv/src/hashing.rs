//! SHA-256 of a byte stream while it is read, so the file's identity costs no extra pass.

use std::io::{self, Read};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The identity of a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// Lower-case hex SHA-256 of every byte, BOM included.
    pub sha256: String,
    pub size_bytes: u64,
}

/// A reader that hashes every byte passing through it. Public so an uploader can tee the same
/// stream to storage and learn the SHA-256 without reading the file twice.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The digest of the bytes read so far.
    pub fn finish(self) -> Digest {
        digest_of(self.hasher, self.bytes)
    }
}

pub(crate) fn digest_of(hasher: Sha256, bytes: u64) -> Digest {
    Digest {
        sha256: hex::encode(hasher.finalize()),
        size_bytes: bytes,
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// SHA-256 and size of everything `reader` yields.
pub fn sha256_of<R: Read>(reader: R) -> io::Result<Digest> {
    let mut hashing = HashingReader::new(reader);
    io::copy(&mut hashing, &mut io::sink())?;
    Ok(hashing.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let empty = sha256_of(&b""[..]).unwrap();
        assert_eq!(
            empty.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(empty.size_bytes, 0);
        let abc = sha256_of(&b"abc"[..]).unwrap();
        assert_eq!(
            abc.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(abc.size_bytes, 3);
    }
}
