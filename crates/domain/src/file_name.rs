use std::fmt;

/// A source file's name as the user gave it: a relative path with `/` separators (`src/app/util.py`).
/// The path matters later, when the import path of the module under test is derived from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceFileName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileNameError {
    #[error("the file name is empty")]
    Empty,
    #[error("the file name is {0} bytes long; the limit is {max}", max = SourceFileName::MAX_BYTES)]
    TooLong(usize),
    #[error("the file name contains a control character")]
    ControlCharacter,
    #[error("the file name must be a relative path without `..`")]
    EscapesRoot,
}

impl SourceFileName {
    pub const MAX_BYTES: usize = 255;

    /// Parses a name, normalising `\` to `/` and dropping `.` and empty components and a leading
    /// `./`. Absolute paths, drive letters and `..` are refused.
    pub fn parse(input: &str) -> Result<SourceFileName, FileNameError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(FileNameError::Empty);
        }
        if trimmed.len() > Self::MAX_BYTES {
            return Err(FileNameError::TooLong(trimmed.len()));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(FileNameError::ControlCharacter);
        }
        let slashed = trimmed.replace('\\', "/");
        if slashed.starts_with('/') {
            return Err(FileNameError::EscapesRoot);
        }
        let mut components = Vec::new();
        for component in slashed.split('/') {
            match component {
                // Blank components go the way of empty ones: kept, they would leave the name
                // starting or ending in blanks that the next parse trims away.
                blank if blank.trim().is_empty() => {}
                "." => {}
                ".." => return Err(FileNameError::EscapesRoot),
                other => components.push(other),
            }
        }
        // The outer blanks of the first and last component: "./ a" is "a", as " a" is.
        let joined = components.join("/");
        let name = joined.trim();
        let Some(first) = name.split('/').next().filter(|first| !first.is_empty()) else {
            return Err(FileNameError::Empty);
        };
        if is_drive_letter(first) {
            return Err(FileNameError::EscapesRoot);
        }
        Ok(SourceFileName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last component: `src/app/util.py` → `util.py`.
    pub fn base_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

/// `C:` or `c:x.py`: a Windows drive, which would make the name absolute there.
fn is_drive_letter(component: &str) -> bool {
    let bytes = component.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

impl fmt::Display for SourceFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_paths() {
        let name = SourceFileName::parse(" ./src\\app//util.py ").expect("valid");
        assert_eq!(name.as_str(), "src/app/util.py");
        assert_eq!(name.base_name(), "util.py");
    }

    #[test]
    fn refuses_paths_that_escape() {
        for bad in [
            "/etc/passwd",
            "../x.py",
            "a/../../x.py",
            "C:\\x.py",
            "c:x.py",
        ] {
            assert_eq!(
                SourceFileName::parse(bad),
                Err(FileNameError::EscapesRoot),
                "{bad}"
            );
        }
        assert_eq!(SourceFileName::parse("./"), Err(FileNameError::Empty));
        assert_eq!(
            SourceFileName::parse("a\nb.py"),
            Err(FileNameError::ControlCharacter)
        );
        assert!(matches!(
            SourceFileName::parse(&"a".repeat(256)),
            Err(FileNameError::TooLong(256))
        ));
    }

    #[test]
    fn blanks_at_the_edges_of_components_are_trimmed_once_for_all() {
        for (input, expected) in [
            ("ක \\", "ක"),
            ("./ a", "a"),
            ("./ /a", "a"),
            ("a/ /b", "a/b"),
        ] {
            let parsed = SourceFileName::parse(input).expect("a name");
            assert_eq!(parsed.as_str(), expected, "{input:?}");
            assert_eq!(SourceFileName::parse(parsed.as_str()), Ok(parsed));
        }
        assert_eq!(
            SourceFileName::parse("./ C:/x"),
            Err(FileNameError::EscapesRoot)
        );
    }

    proptest! {
        #[test]
        fn parsed_names_are_clean(input in "\\PC{0,60}") {
            if let Ok(name) = SourceFileName::parse(&input) {
                let text = name.as_str();
                prop_assert!(!text.is_empty());
                prop_assert!(!text.starts_with('/'));
                prop_assert!(!text.contains('\\'));
                prop_assert!(text.split('/').all(|part| !part.is_empty() && part != "." && part != ".."));
                prop_assert_eq!(SourceFileName::parse(text), Ok(name.clone()), "normalising is idempotent");
            }
        }
    }
}
