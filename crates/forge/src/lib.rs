//! Repositories on GitHub, GitLab and any git server over HTTPS, for the services that browse
//! them and push tests back: the forges' REST APIs ([`ForgeClient`]), git itself ([`GitRemote`]:
//! a shallow clone of one commit, the push of a new branch), the token that never prints
//! ([`ForgeToken`]), and the network policy every URL passes first ([`NetworkPolicy`]).

pub mod api;
pub mod error;
pub mod git;
pub mod kind;
pub mod network;
pub mod path;
#[cfg(feature = "testing")]
pub mod testing;
pub mod token;

pub use api::{
    Branch, Capability, ChangeRequest, EntryKind, FileContent, ForgeClient, Identity,
    OpenedChangeRequest, Page, Repository, Tree, TreeEntry,
};
pub use error::ForgeError;
pub use git::{BranchPush, ExistingFiles, GitRemote, PushedBranch, Signature};
pub use kind::{ForgeKind, RepoName};
pub use network::{CheckedHost, NetworkPolicy};
pub use path::{BranchName, CommitId, RepoPath};
pub use token::ForgeToken;
