use sha2::{Digest, Sha256};

/// Limits a source must respect to be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimits {
    pub max_bytes: usize,
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            max_bytes: 1024 * 1024,
        }
    }
}

/// A source file's text: non-empty, valid UTF-8, free of NUL bytes and within the size limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("the source is empty")]
    Empty,
    #[error("the source is {size} bytes; the limit is {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("the source is not valid UTF-8 (first bad byte at offset {offset})")]
    NotUtf8 { offset: usize },
    #[error("the source contains a NUL byte at offset {offset}; binary files are not accepted")]
    NulByte { offset: usize },
}

impl SourceFile {
    /// Parses raw bytes, such as an uploaded file.
    pub fn parse(bytes: &[u8], limits: SourceLimits) -> Result<SourceFile, SourceError> {
        check_size(bytes.len(), limits)?;
        let text = std::str::from_utf8(bytes).map_err(|error| SourceError::NotUtf8 {
            offset: error.valid_up_to(),
        })?;
        SourceFile::parse_text(text.to_owned(), limits)
    }

    /// Parses text that is already UTF-8, such as a JSON string.
    pub fn parse_text(text: String, limits: SourceLimits) -> Result<SourceFile, SourceError> {
        check_size(text.len(), limits)?;
        if let Some(offset) = text.bytes().position(|byte| byte == 0) {
            return Err(SourceError::NulByte { offset });
        }
        if text.trim().is_empty() {
            return Err(SourceError::Empty);
        }
        Ok(SourceFile { text })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn into_text(self) -> String {
        self.text
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Always false: an empty source does not parse. Here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub fn line_count(&self) -> usize {
        self.text.lines().count()
    }

    /// The SHA-256 of the text, in lower-case hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(self.text.as_bytes()))
    }
}

fn check_size(size: usize, limits: SourceLimits) -> Result<(), SourceError> {
    if size > limits.max_bytes {
        Err(SourceError::TooLarge {
            size,
            max: limits.max_bytes,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: SourceLimits = SourceLimits { max_bytes: 64 };

    #[test]
    fn rejects_each_kind_of_bad_source() {
        assert_eq!(SourceFile::parse(b"", LIMITS), Err(SourceError::Empty));
        assert_eq!(
            SourceFile::parse(b" \n\t ", LIMITS),
            Err(SourceError::Empty)
        );
        assert_eq!(
            SourceFile::parse(b"ok\xff", LIMITS),
            Err(SourceError::NotUtf8 { offset: 2 })
        );
        assert_eq!(
            SourceFile::parse(b"a\0b", LIMITS),
            Err(SourceError::NulByte { offset: 1 })
        );
        assert_eq!(
            SourceFile::parse(&[b'x'; 65], LIMITS),
            Err(SourceError::TooLarge { size: 65, max: 64 })
        );
        assert!(SourceFile::parse(&[b'x'; 64], LIMITS).is_ok());
    }

    #[test]
    fn hashes_the_text() {
        let source = SourceFile::parse(b"abc", LIMITS).expect("valid");
        assert_eq!(
            source.sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    proptest! {
        #[test]
        fn accepts_exactly_the_good_inputs(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let result = SourceFile::parse(&bytes, LIMITS);
            let good = bytes.len() <= LIMITS.max_bytes
                && std::str::from_utf8(&bytes).is_ok_and(|text| !text.trim().is_empty())
                && !bytes.contains(&0);
            prop_assert_eq!(result.is_ok(), good, "{:?}", result);
            if let Ok(source) = result {
                prop_assert_eq!(source.text().as_bytes(), &bytes[..]);
            }
        }

        #[test]
        fn text_and_bytes_agree(text in "\\PC{0,80}") {
            prop_assert_eq!(
                SourceFile::parse(text.as_bytes(), LIMITS),
                SourceFile::parse_text(text.clone(), LIMITS)
            );
        }
    }
}
