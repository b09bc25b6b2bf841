//! Clone and push against `git http-backend` on loopback.

use std::time::Duration;

use forge::{
    BranchName, BranchPush, CommitId, ExistingFiles, ForgeError, ForgeKind, ForgeToken, GitRemote,
    NetworkPolicy, RepoPath, Signature,
};

use forge::testing::git_server::GitServer;

pub const TOKEN: &str = "glpat-git-secret-0123456789";

pub async fn remote(server: &GitServer, name: &str, token: &str) -> GitRemote {
    GitRemote::connect(
        ForgeKind::Gitlab,
        &server.url(name),
        Some(ForgeToken::parse(token).expect("a token")),
        &NetworkPolicy::loopback(),
        Duration::from_secs(60),
    )
    .await
    .expect("a loopback remote is allowed by the loopback policy")
}

pub async fn project(server: &GitServer) -> Vec<String> {
    server.create_repo(
        "acme/widgets",
        &[
            &[
                ("src/calc.py", "def add(a, b):\n    return a + b\n"),
                ("README.md", "v1\n"),
            ],
            &[("README.md", "v2\n"), ("src/more.py", "X = 1\n")],
        ],
    )
}

pub fn push_of(base: &str, branch: &str, files: &[(&str, &str)]) -> BranchPush {
    BranchPush {
        base: CommitId::parse(base).expect("a commit"),
        branch: BranchName::parse(branch).expect("a branch"),
        files: files
            .iter()
            .map(|(path, content)| {
                (
                    RepoPath::parse(path).expect("a path"),
                    content.as_bytes().to_vec(),
                )
            })
            .collect(),
        message: "Add generated tests".into(),
        author: Signature::new("AIunittest", "tests@aiunittest.dev").expect("a signature"),
        existing: ExistingFiles::Refuse,
    }
}

#[tokio::test]
async fn a_clone_checks_out_exactly_the_commit_asked_for() {
    let server = GitServer::start("oauth2", TOKEN).await;
    let commits = project(&server).await;
    let remote = remote(&server, "acme/widgets", TOKEN).await;
    let checkout = tempfile::tempdir().expect("a folder");
    let first = CommitId::parse(&commits[0]).expect("a commit");
    remote
        .clone_at(&first, checkout.path())
        .await
        .expect("the clone");

    let read = |path: &str| std::fs::read_to_string(checkout.path().join(path)).ok();
    assert_eq!(
        read("README.md").as_deref(),
        Some("v1\n"),
        "the first commit, not the tip"
    );
    assert_eq!(
        read("src/calc.py").as_deref(),
        Some("def add(a, b):\n    return a + b\n")
    );
    assert_eq!(read("src/more.py"), None, "a file of a later commit");
    let head = forge::testing::git_server::git(checkout.path(), &["rev-parse", "HEAD"]);
    assert_eq!(head.trim(), commits[0]);
    let depth = forge::testing::git_server::git(checkout.path(), &["rev-list", "--count", "HEAD"]);
    assert_eq!(depth.trim(), "1", "one commit deep");
    // Nothing of the token is kept in the checkout's configuration.
    let config = std::fs::read_to_string(checkout.path().join(".git/config")).expect("config");
    assert!(!config.contains(TOKEN) && !config.to_lowercase().contains("authorization"));
    assert!(
        server
            .requested_urls()
            .iter()
            .all(|url| !url.contains(TOKEN))
    );

    // Into a folder that is not empty: refused before git runs.
    let again = remote.clone_at(&first, checkout.path()).await;
    assert!(matches!(again, Err(ForgeError::Local(_))), "{again:?}");
}

#[tokio::test]
async fn a_push_makes_one_commit_on_a_new_branch_and_leaves_main_alone() {
    let server = GitServer::start("oauth2", TOKEN).await;
    let commits = project(&server).await;
    let remote = remote(&server, "acme/widgets", TOKEN).await;
    assert_eq!(
        remote.default_branch().await.expect("ls-remote"),
        Some(BranchName::parse("main").expect("a name"))
    );
    let main_before = server.in_bare("acme/widgets", &["rev-parse", "refs/heads/main"]);

    let push = push_of(
        &commits[1],
        "aiunittest/batch-1",
        &[
            (
                "tests/test_calc.py",
                "from src.calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
            ),
            ("tests/deep/test_more.py", "def test_x():\n    pass\n"),
        ],
    );
    let pushed = remote.push_branch(&push).await.expect("the push");
    assert!(pushed.replaced.is_empty());
    let bare = |args: &[&str]| server.in_bare("acme/widgets", args);
    assert_eq!(
        bare(&["rev-parse", "refs/heads/aiunittest/batch-1"]).trim(),
        pushed.commit.as_str()
    );
    assert_eq!(
        bare(&["rev-parse", &format!("{}^", pushed.commit)]).trim(),
        commits[1],
        "based on the base"
    );
    assert_eq!(
        bare(&["show", &format!("{}:tests/test_calc.py", pushed.commit)]),
        "from src.calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    );
    assert_eq!(
        bare(&[
            "show",
            &format!("{}:tests/deep/test_more.py", pushed.commit)
        ]),
        "def test_x():\n    pass\n"
    );
    let changed = bare(&[
        "diff-tree",
        "--no-commit-id",
        "--name-only",
        "-r",
        pushed.commit.as_str(),
    ]);
    assert_eq!(
        changed.lines().collect::<Vec<_>>(),
        ["tests/deep/test_more.py", "tests/test_calc.py"]
    );
    let signature = bare(&[
        "log",
        "-1",
        "--format=%an <%ae>|%cn <%ce>|%s",
        pushed.commit.as_str(),
    ]);
    assert_eq!(
        signature.trim(),
        "AIunittest <tests@aiunittest.dev>|AIunittest <tests@aiunittest.dev>|Add generated tests"
    );
    assert_eq!(
        bare(&["rev-parse", "refs/heads/main"]),
        main_before,
        "main untouched"
    );
}

#[tokio::test]
async fn pushes_to_the_default_or_an_existing_branch_are_refused() {
    let server = GitServer::start("oauth2", TOKEN).await;
    let commits = project(&server).await;
    server.create_branch("acme/widgets", "taken", &commits[0]);
    let remote = remote(&server, "acme/widgets", TOKEN).await;
    let before = server.in_bare("acme/widgets", &["for-each-ref"]);

    let to_main = remote
        .push_branch(&push_of(
            &commits[1],
            "main",
            &[("tests/test_a.py", "x = 1\n")],
        ))
        .await;
    assert!(
        matches!(&to_main, Err(ForgeError::DefaultBranch(name)) if name == "main"),
        "{to_main:?}"
    );
    // The branch exists at the base itself, where a plain push would fast-forward it.
    let to_taken = remote
        .push_branch(&push_of(
            &commits[0],
            "taken",
            &[("tests/test_a.py", "x = 1\n")],
        ))
        .await;
    assert!(
        matches!(&to_taken, Err(ForgeError::BranchExists(name)) if name == "taken"),
        "{to_taken:?}"
    );
    assert!(
        to_taken
            .expect_err("refused")
            .to_string()
            .contains("already exists")
    );
    assert_eq!(
        server.in_bare("acme/widgets", &["for-each-ref"]),
        before,
        "no ref changed"
    );
}

#[tokio::test]
async fn a_branch_made_between_the_check_and_the_push_is_not_overwritten() {
    let server = GitServer::start("oauth2", TOKEN).await;
    let commits = project(&server).await;
    let remote = remote(&server, "acme/widgets", TOKEN).await;
    // Someone else makes the branch at the base itself after the check: a plain push would
    // fast-forward it onto the new commit.
    server.create_branch_as_the_next_push_starts("acme/widgets", "aiunittest/raced", &commits[1]);
    let raced = remote
        .push_branch(&push_of(
            &commits[1],
            "aiunittest/raced",
            &[("tests/test_a.py", "x = 1\n")],
        ))
        .await;
    assert!(
        matches!(&raced, Err(ForgeError::BranchExists(name)) if name == "aiunittest/raced"),
        "{raced:?}"
    );
    assert_eq!(
        server
            .in_bare(
                "acme/widgets",
                &["rev-parse", "refs/heads/aiunittest/raced"]
            )
            .trim(),
        commits[1],
        "the other branch is left as it was"
    );
}

#[tokio::test]
async fn an_existing_file_is_refused_by_name_unless_replacing_was_asked() {
    let server = GitServer::start("oauth2", TOKEN).await;
    let commits = project(&server).await;
    let remote = remote(&server, "acme/widgets", TOKEN).await;

    let refused = remote
        .push_branch(&push_of(
            &commits[1],
            "aiunittest/b1",
            &[("src/calc.py", "changed\n")],
        ))
        .await;
    match refused {
        Err(error @ ForgeError::FileExists(_)) => {
            assert_eq!(
                error.to_string(),
                "a file already exists at src/calc.py; it is not overwritten unless asked"
            );
        }
        other => panic!("expected FileExists, got {other:?}"),
    }
    assert!(
        !remote
            .branch_exists(&BranchName::parse("aiunittest/b1").expect("a name"))
            .await
            .expect("ls-remote")
    );

    let mut replacing = push_of(
        &commits[1],
        "aiunittest/b2",
        &[("src/calc.py", "changed\n")],
    );
    replacing.existing = ExistingFiles::Replace;
    let pushed = remote.push_branch(&replacing).await.expect("the push");
    assert_eq!(
        pushed.replaced,
        [RepoPath::parse("src/calc.py").expect("a path")]
    );
    let content = server.in_bare(
        "acme/widgets",
        &["show", &format!("{}:src/calc.py", pushed.commit)],
    );
    assert_eq!(content, "changed\n");

    // A file where a folder is needed is refused, not written through.
    let through_file = remote
        .push_branch(&push_of(
            &commits[1],
            "aiunittest/b3",
            &[("README.md/test_x.py", "x\n")],
        ))
        .await;
    assert!(
        matches!(through_file, Err(ForgeError::InvalidPath { .. })),
        "{through_file:?}"
    );
}

#[tokio::test]
async fn a_symlink_in_the_repository_cannot_lead_a_write_outside() {
    let server = GitServer::start("oauth2", TOKEN).await;
    let outside = tempfile::tempdir().expect("a folder outside");
    let work = tempfile::tempdir().expect("a work folder");
    let git = |args: &[&str]| forge::testing::git_server::git(work.path(), args);
    git(&["init", "--quiet", "--initial-branch=main", "."]);
    std::os::unix::fs::symlink(outside.path(), work.path().join("tests")).expect("a symlink");
    std::fs::write(work.path().join("a.py"), "x = 1\n").expect("a file");
    git(&["add", "--all"]);
    git(&["commit", "--quiet", "-m", "a link"]);
    let base = git(&["rev-parse", "HEAD"]).trim().to_owned();
    let bare = server.bare("acme/linked");
    forge::testing::git_server::git(
        server.root.path(),
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            bare.to_str().expect("UTF-8"),
        ],
    );
    git(&["push", "--quiet", bare.to_str().expect("UTF-8"), "main"]);

    let remote = remote(&server, "acme/linked", TOKEN).await;
    let result = remote
        .push_branch(&push_of(
            &base,
            "aiunittest/x",
            &[("tests/test_a.py", "owned\n")],
        ))
        .await;
    // The link is checked out as a plain file, so `tests/` cannot be a folder there.
    assert!(
        matches!(result, Err(ForgeError::InvalidPath { .. })),
        "{result:?}"
    );
    assert!(
        std::fs::read_dir(outside.path())
            .expect("the folder")
            .next()
            .is_none(),
        "nothing written outside"
    );
}

#[tokio::test]
async fn a_wrong_token_is_a_clear_error_without_the_token() {
    let server = GitServer::start("oauth2", TOKEN).await;
    let commits = project(&server).await;
    let wrong = "glpat-wrong-secret-9876543210";
    let remote = remote(&server, "acme/widgets", wrong).await;
    let checkout = tempfile::tempdir().expect("a folder");
    let error = remote
        .clone_at(
            &CommitId::parse(&commits[0]).expect("a commit"),
            checkout.path(),
        )
        .await
        .expect_err("refused");
    assert!(matches!(error, ForgeError::BadToken), "{error:?}");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(wrong) && !shown.contains(TOKEN), "{shown}");

    let push = remote
        .push_branch(&push_of(
            &commits[0],
            "aiunittest/x",
            &[("tests/test_a.py", "x\n")],
        ))
        .await
        .expect_err("refused");
    assert!(matches!(push, ForgeError::BadToken), "{push:?}");

    // No token at all: git must not stop to ask for one.
    let anonymous = GitRemote::connect(
        ForgeKind::Git,
        &server.url("acme/widgets"),
        None,
        &NetworkPolicy::loopback(),
        Duration::from_secs(30),
    )
    .await
    .expect("allowed");
    let error = anonymous.default_branch().await.expect_err("refused");
    assert!(matches!(error, ForgeError::BadToken), "{error:?}");
}

#[tokio::test]
async fn a_missing_repository_is_not_found() {
    let server = GitServer::start("oauth2", TOKEN).await;
    let remote = remote(&server, "acme/nothing", TOKEN).await;
    let error = remote
        .default_branch()
        .await
        .expect_err("no such repository");
    assert!(matches!(error, ForgeError::NotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn loopback_and_plain_http_need_the_policy_to_allow_them() {
    let server = GitServer::start("oauth2", TOKEN).await;
    for policy in [
        NetworkPolicy::public_only(),
        NetworkPolicy::new(vec!["127.0.0.0/8".parse().expect("a net")], false),
    ] {
        let refused = GitRemote::connect(
            ForgeKind::Git,
            &server.url("acme/widgets"),
            None,
            &policy,
            Duration::from_secs(5),
        )
        .await;
        assert!(
            refused.is_err(),
            "{policy:?} allowed plain http to loopback"
        );
    }
}

#[tokio::test]
async fn a_branch_resolves_to_the_commit_it_points_at() {
    let server = GitServer::start("oauth2", TOKEN).await;
    let commits = project(&server).await;
    server.create_branch("acme/widgets", "old", &commits[0]);
    let remote = remote(&server, "acme/widgets", TOKEN).await;
    let head = |name: &str| BranchName::parse(name).expect("a branch");
    assert_eq!(
        remote
            .branch_head(&head("main"))
            .await
            .expect("main")
            .as_str(),
        commits[1]
    );
    assert_eq!(
        remote
            .branch_head(&head("old"))
            .await
            .expect("old")
            .as_str(),
        commits[0]
    );
    // `ma` is a prefix of `main`, not a branch.
    assert!(matches!(
        remote.branch_head(&head("ma")).await,
        Err(ForgeError::NotFound { .. })
    ));
}
