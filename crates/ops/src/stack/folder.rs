//! Folders made where other local users may write too (`/var/tmp`), safely as root: never
//! through a symbolic link, never taking over a folder someone else made. Everything is done on
//! file descriptors opened with `O_NOFOLLOW | O_DIRECTORY`, so what is checked is what is used.

use std::fmt;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Why a folder found in place is not one to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    SymbolicLink,
    NotAFolder,
    /// Owned by a user that is neither us nor the one the folder is for.
    ForeignOwner(u32),
    /// Group or others may write in it (the mode is given).
    WritableByOthers(u32),
    /// A shared parent others can write in, without the sticky bit that stops them from
    /// renaming or deleting what is not theirs.
    NotSticky(u32),
}

impl fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SymbolicLink => formatter.write_str("is a symbolic link"),
            Self::NotAFolder => formatter.write_str("is not a folder"),
            Self::ForeignOwner(uid) => write!(formatter, "belongs to another user (uid {uid})"),
            Self::WritableByOthers(mode) => write!(
                formatter,
                "may be written by its group or others (mode {:o})",
                mode & 0o7777
            ),
            Self::NotSticky(mode) => write!(
                formatter,
                "is writable by others without the sticky bit (mode {:o})",
                mode & 0o7777
            ),
        }
    }
}

/// A folder that passed the checks, held open.
pub struct CheckedFolder {
    pub path: PathBuf,
    pub handle: OwnedFd,
}

/// Opens a folder of the operator's own choosing (the state folder), as it is.
pub fn open_own(path: &Path) -> anyhow::Result<CheckedFolder> {
    let handle = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {}", path.display()))?;
    Ok(CheckedFolder {
        path: path.to_path_buf(),
        handle,
    })
}

/// Opens a shared parent such as `/var/tmp`: a folder owned by root (or by us), which others may
/// write in only when it is sticky.
pub fn open_shared_parent(path: &Path, euid: u32) -> anyhow::Result<CheckedFolder> {
    let handle = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("cannot open {}", path.display()))?;
    let metadata = File::from(handle.try_clone()?).metadata()?;
    let mode = metadata.permissions().mode();
    let refusal = if metadata.uid() != 0 && metadata.uid() != euid {
        Some(Refusal::ForeignOwner(metadata.uid()))
    } else if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        Some(Refusal::NotSticky(mode))
    } else {
        None
    };
    if let Some(refusal) = refusal {
        anyhow::bail!("refusing to keep data in {}: it {refusal}", path.display());
    }
    Ok(CheckedFolder {
        path: path.to_path_buf(),
        handle,
    })
}

/// The folder `name` inside `parent`, made (mode 0700) when missing; when present it must be a
/// real folder (not a symbolic link) owned by one of `owners`, that neither its group nor others
/// may write in. Then it is handed to `hand_to` (uid, gid) and set to 0700, through its file
/// descriptor.
pub fn private_folder(
    parent: &CheckedFolder,
    name: &str,
    owners: &[u32],
    hand_to: Option<(u32, u32)>,
) -> anyhow::Result<CheckedFolder> {
    let path = parent.path.join(name);
    match rustix::fs::mkdirat(&parent.handle, name, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(error) => {
            return Err(error).with_context(|| format!("cannot create {}", path.display()));
        }
    }
    let refuse = |refusal: Refusal| {
        anyhow::anyhow!(
            "refusing to use {}: it {refusal}; it was not made by this deployment — \
             remove it, or choose another state folder (AIUT_STATE_DIR)",
            path.display()
        )
    };
    let handle = match rustix::fs::openat(
        &parent.handle,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(handle) => handle,
        // Linux answers ENOTDIR for a link opened with both flags, ELOOP without O_DIRECTORY.
        Err(Errno::LOOP | Errno::NOTDIR) => {
            let is_link = rustix::fs::statat(&parent.handle, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|found| FileType::from_raw_mode(found.st_mode) == FileType::Symlink);
            return Err(refuse(if is_link {
                Refusal::SymbolicLink
            } else {
                Refusal::NotAFolder
            }));
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot open {}", path.display()));
        }
    };
    let folder = File::from(handle.try_clone()?);
    let metadata = folder.metadata()?;
    if let Some(refusal) = refusal(&metadata, owners) {
        return Err(refuse(refusal));
    }
    if let Some((uid, gid)) = hand_to {
        std::os::unix::fs::fchown(handle.as_fd(), Some(uid), Some(gid))
            .with_context(|| format!("cannot hand {} to uid {uid}", path.display()))?;
    }
    folder
        .set_permissions(std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", path.display()))?;
    Ok(CheckedFolder { path, handle })
}

/// What is wrong with a folder found in place, if anything.
fn refusal(metadata: &std::fs::Metadata, owners: &[u32]) -> Option<Refusal> {
    let mode = metadata.permissions().mode();
    if metadata.file_type().is_symlink() {
        Some(Refusal::SymbolicLink)
    } else if !metadata.is_dir() {
        Some(Refusal::NotAFolder)
    } else if !owners.contains(&metadata.uid()) {
        Some(Refusal::ForeignOwner(metadata.uid()))
    } else if mode & 0o022 != 0 {
        Some(Refusal::WritableByOthers(mode))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> (Self, CheckedFolder) {
            let path =
                std::env::temp_dir().join(format!("aiut-folder-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).expect("scratch folder");
            let handle = rustix::fs::open(
                &path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .expect("opened");
            (Self(path.clone()), CheckedFolder { path, handle })
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn me() -> u32 {
        super::super::process::effective_uid()
    }

    #[test]
    fn a_new_folder_is_made_private_and_a_second_call_accepts_it() {
        let (_scratch, parent) = Scratch::new("new");
        let made = private_folder(&parent, "data", &[me()], None).expect("made");
        let metadata = fs::symlink_metadata(&made.path).expect("there");
        assert!(metadata.is_dir());
        assert_eq!(metadata.permissions().mode() & 0o7777, 0o700);
        private_folder(&parent, "data", &[me()], None).expect("ours, accepted again");
    }

    #[test]
    fn a_planted_symbolic_link_is_refused_and_not_followed() {
        let (scratch, parent) = Scratch::new("link");
        let target = scratch.0.join("victim");
        fs::create_dir(&target).expect("target");
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).expect("chmod");
        std::os::unix::fs::symlink(&target, scratch.0.join("data")).expect("planted");
        let error = private_folder(&parent, "data", &[me()], None)
            .err()
            .expect("refused");
        let message = format!("{error:#}");
        assert!(message.contains("is a symbolic link"), "{message}");
        assert!(message.contains(&scratch.0.join("data").display().to_string()));
        let untouched = fs::metadata(&target).expect("target").permissions().mode();
        assert_eq!(untouched & 0o777, 0o755, "the link's target is left alone");
    }

    #[test]
    fn a_folder_of_another_user_is_refused() {
        let (_scratch, parent) = Scratch::new("foreign");
        private_folder(&parent, "data", &[me()], None).expect("made");
        // Ours, but not among the owners allowed: as if another user had made it first.
        let stranger = me().wrapping_add(4242);
        let error = private_folder(&parent, "data", &[stranger], None)
            .err()
            .expect("refused");
        let message = format!("{error:#}");
        assert!(
            message.contains(&format!("belongs to another user (uid {})", me())),
            "{message}"
        );
    }

    #[test]
    fn a_folder_others_may_write_in_is_refused() {
        let (scratch, parent) = Scratch::new("writable");
        fs::create_dir(scratch.0.join("data")).expect("made");
        fs::set_permissions(scratch.0.join("data"), fs::Permissions::from_mode(0o770))
            .expect("chmod");
        let message = format!(
            "{:#}",
            private_folder(&parent, "data", &[me()], None)
                .err()
                .expect("refused")
        );
        assert!(
            message.contains("may be written by its group or others (mode 770)"),
            "{message}"
        );
    }

    #[test]
    fn a_plain_file_in_the_way_is_refused() {
        let (scratch, parent) = Scratch::new("file");
        fs::write(scratch.0.join("data"), "").expect("file");
        let message = format!(
            "{:#}",
            private_folder(&parent, "data", &[me()], None)
                .err()
                .expect("refused")
        );
        assert!(message.contains("is not a folder"), "{message}");
    }

    #[test]
    fn a_shared_parent_must_be_sticky_when_others_write_in_it() {
        let (scratch, _) = Scratch::new("shared");
        fs::set_permissions(&scratch.0, fs::Permissions::from_mode(0o777)).expect("chmod");
        let message = format!(
            "{:#}",
            open_shared_parent(&scratch.0, me()).err().expect("refused")
        );
        assert!(message.contains("without the sticky bit"), "{message}");
        fs::set_permissions(&scratch.0, fs::Permissions::from_mode(0o1777)).expect("chmod");
        open_shared_parent(&scratch.0, me()).expect("sticky is fine");
    }
}
