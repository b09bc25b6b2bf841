use std::fmt;

use sha2::{Digest, Sha256};

use crate::TaskSpec;

/// The version of the prompts. Changing the prompts changes this, and so every cache key: results
/// made with older prompts are never served for newer ones.
pub const PROMPT_VERSION: &str = "2";

/// The key of the result cache: SHA-256 over the prompt version and everything that shapes the
/// result — language, framework, model, file name, source, and how far the tests are checked and
/// which are kept.
///
/// The file name is in the key because the generated tests import the module under test by the path
/// derived from it: the same source under another name needs other imports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(String);

impl CacheKey {
    pub fn for_spec(spec: &TaskSpec) -> CacheKey {
        CacheKey::compute(&[
            PROMPT_VERSION,
            spec.language.id(),
            spec.framework.id(),
            spec.model.as_str(),
            spec.file_name.as_str(),
            spec.source.text(),
            spec.validate.as_str(),
            spec.keep.as_str(),
        ])
    }

    /// The key of a task of a repository batch: its tests run among the repository's files at
    /// `commit`, so the same file alone (or in another repository) is another key.
    pub fn for_repository_spec(
        spec: &TaskSpec,
        repository: &str,
        commit: &str,
        test_path: &str,
    ) -> CacheKey {
        let single = CacheKey::for_spec(spec);
        CacheKey::compute(&["repository", &single.0, repository, commit, test_path])
    }

    /// Each part is length-prefixed, so no two different lists of parts hash the same input.
    fn compute(parts: &[&str]) -> CacheKey {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        CacheKey(hex::encode(hasher.finalize()))
    }

    /// A key read back from storage: 64 lowercase hex digits, as [`CacheKey::for_spec`] makes them.
    pub fn from_stored(stored: &str) -> Option<CacheKey> {
        let well_formed = stored.len() == 64
            && stored
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
        well_formed.then(|| CacheKey(stored.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ModelId, RawSource, RawTaskRequest, SourceLimits};
    use proptest::prelude::*;

    fn spec(source: &str, filename: &str, framework: Option<&str>) -> TaskSpec {
        TaskSpec::parse(
            RawTaskRequest {
                source: RawSource::Text(source.to_owned()),
                filename: Some(filename.to_owned()),
                framework: framework.map(str::to_owned),
                ..RawTaskRequest::default()
            },
            SourceLimits::default(),
            &ModelId::parse("offline").expect("valid"),
        )
        .expect("valid")
    }

    #[test]
    fn stored_keys_read_back() {
        let key = CacheKey::for_spec(&spec("x = 1", "a.py", None));
        assert_eq!(CacheKey::from_stored(key.as_str()), Some(key));
        assert_eq!(CacheKey::from_stored("abc"), None);
        assert_eq!(CacheKey::from_stored(&"G".repeat(64)), None);
    }

    #[test]
    fn every_part_changes_the_key() {
        let base = CacheKey::for_spec(&spec("x = 1", "a.py", None));
        assert_eq!(
            base,
            CacheKey::for_spec(&spec("x = 1", "a.py", Some("pytest")))
        );
        assert_ne!(base, CacheKey::for_spec(&spec("x = 2", "a.py", None)));
        assert_ne!(base, CacheKey::for_spec(&spec("x = 1", "b.py", None)));
        assert_ne!(
            base,
            CacheKey::for_spec(&spec("x = 1", "a.py", Some("unittest")))
        );
        assert_eq!(base.as_str().len(), 64);
    }

    #[test]
    fn a_repository_task_is_keyed_apart_from_the_same_file_alone() {
        let spec = spec("x = 1", "a.py", None);
        let in_repo = CacheKey::for_repository_spec(&spec, "o/r", "c1", "tests/test_a.py");
        assert_ne!(in_repo, CacheKey::for_spec(&spec));
        assert_ne!(
            in_repo,
            CacheKey::for_repository_spec(&spec, "o/r", "c2", "tests/test_a.py")
        );
        assert_ne!(
            in_repo,
            CacheKey::for_repository_spec(&spec, "o/s", "c1", "tests/test_a.py")
        );
        assert_eq!(
            CacheKey::from_stored(in_repo.as_str()),
            Some(in_repo.clone())
        );
    }

    proptest! {
        #[test]
        fn moving_a_boundary_changes_the_key(a in "[a-z]{0,8}", b in "[a-z]{0,8}") {
            prop_assume!(!a.is_empty());
            let joined = CacheKey::compute(&[&a, &b]);
            let moved = CacheKey::compute(&[&a[1..], &format!("{}{b}", &a[..1])]);
            prop_assert_ne!(joined, moved);
        }
    }
}
