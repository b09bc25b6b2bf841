//! The GitHub client against the local GitHub API server.

use std::time::Duration;

use forge::{
    BranchName, Capability, ChangeRequest, CommitId, EntryKind, ForgeClient, ForgeError, ForgeKind,
    ForgeToken, NetworkPolicy, RepoName, RepoPath,
};

use forge::testing::apis::{self, CALC_PY, COMMIT, GOOD_TOKEN, MockApi, NARROW_TOKEN, RESET_EPOCH};

pub async fn client(api: &MockApi, token: &str) -> ForgeClient {
    ForgeClient::connect(
        ForgeKind::Github,
        &api.base,
        ForgeToken::parse(token).expect("a token"),
        &NetworkPolicy::loopback(),
        Duration::from_secs(10),
    )
    .await
    .expect("loopback is allowed")
}

fn repo(name: &str) -> RepoName {
    RepoName::parse(ForgeKind::Github, name).expect("a repository name")
}

/// Every request carries the token in `Authorization` only, with GitHub's headers.
fn assert_requests_are_clean(api: &MockApi, tokens: &[&str]) {
    for request in api.requests() {
        let authorization = request.headers["authorization"].to_str().expect("ASCII");
        assert!(
            tokens
                .iter()
                .any(|token| authorization == format!("Bearer {token}")),
            "{authorization}"
        );
        assert_eq!(request.headers["accept"], "application/vnd.github+json");
        assert_eq!(request.headers["x-github-api-version"], "2022-11-28");
        assert!(
            request.headers["user-agent"]
                .to_str()
                .expect("ASCII")
                .starts_with("aiunittest/")
        );
        let elsewhere = format!("{} {:?} {:?}", request.path, request.query, request.body);
        for token in tokens {
            assert!(
                !elsewhere.contains(token),
                "the token travelled outside its header: {elsewhere}"
            );
            for (name, value) in &request.headers {
                if name != "authorization" {
                    assert!(!value.to_str().unwrap_or("").contains(token), "in {name}");
                }
            }
        }
    }
}

#[tokio::test]
async fn who_am_i_reads_the_scopes_header() {
    let api = apis::github().await;
    let identity = client(&api, GOOD_TOKEN)
        .await
        .whoami()
        .await
        .expect("the user");
    assert_eq!(identity.login, "octocat");
    assert_eq!(
        identity.scopes,
        Some(vec!["repo".to_owned(), "read:org".to_owned()])
    );
    assert!(
        identity
            .require(ForgeKind::Github, Capability::OpenChangeRequest)
            .is_ok()
    );
    let request = api.last();
    assert_eq!(
        (
            request.method.as_str(),
            request.path.as_str(),
            request.query
        ),
        ("GET", "/user", None)
    );

    let narrow = client(&api, NARROW_TOKEN)
        .await
        .whoami()
        .await
        .expect("the user");
    let missing = narrow
        .require(ForgeKind::Github, Capability::Push)
        .expect_err("too few scopes");
    assert_eq!(
        missing.to_string(),
        "the token lacks the `repo` scope needed for this"
    );
    assert_requests_are_clean(&api, &[GOOD_TOKEN, NARROW_TOKEN]);
}

#[tokio::test]
async fn repositories_are_paged_by_the_link_header() {
    let api = apis::github().await;
    let client = client(&api, GOOD_TOKEN).await;
    let first = client.repositories(1).await.expect("page 1");
    assert_eq!(first.next_page, Some(2));
    assert_eq!(first.items.len(), 1);
    let widgets = &first.items[0];
    assert_eq!(widgets.full_name, "acme/widgets");
    assert!(widgets.private);
    assert_eq!(widgets.default_branch.as_deref(), Some("main"));
    assert_eq!(widgets.clone_url, "https://github.com/acme/widgets.git");
    assert_eq!(widgets.web_url, "https://github.com/acme/widgets");
    let request = api.last();
    assert_eq!(request.path, "/user/repos");
    assert_eq!(
        request.query.as_deref(),
        Some("per_page=100&page=1&sort=full_name")
    );

    let second = client.repositories(2).await.expect("page 2");
    assert_eq!(second.next_page, None);
    assert_eq!(second.items[0].full_name, "octocat/hello-world");
    assert!(!second.items[0].private);
    assert_requests_are_clean(&api, &[GOOD_TOKEN]);
}

#[tokio::test]
async fn branches_tree_file_and_default_branch() {
    let api = apis::github().await;
    let client = client(&api, GOOD_TOKEN).await;
    let widgets = repo("acme/widgets");

    assert_eq!(
        client
            .default_branch(&widgets)
            .await
            .expect("the repo")
            .as_str(),
        "main"
    );
    assert_eq!(api.last().path, "/repos/acme/widgets");

    let branches = client.branches(&widgets, 1).await.expect("branches");
    assert_eq!(branches.items.len(), 2);
    assert_eq!(
        (
            branches.items[0].name.as_str(),
            branches.items[0].commit.as_str(),
            branches.items[0].protected
        ),
        ("main", COMMIT, true)
    );
    assert_eq!(branches.next_page, None);
    let request = api.last();
    assert_eq!(
        (request.path.as_str(), request.query.as_deref()),
        ("/repos/acme/widgets/branches", Some("per_page=100&page=1"))
    );

    let tree = client
        .tree(&widgets, &CommitId::parse(COMMIT).expect("a commit"))
        .await
        .expect("the tree");
    assert!(!tree.truncated);
    let kinds: Vec<(&str, EntryKind)> = tree
        .entries
        .iter()
        .map(|entry| (entry.path.as_str(), entry.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("README.md", EntryKind::File),
            ("src", EntryKind::Directory),
            ("src/calc.py", EntryKind::File),
            ("docs", EntryKind::Symlink),
            ("vendor/lib", EntryKind::Submodule),
        ]
    );
    assert_eq!(tree.entries[2].size, Some(62));
    let request = api.last();
    assert_eq!(
        request.path,
        format!("/repos/acme/widgets/git/trees/{COMMIT}")
    );
    assert_eq!(request.query.as_deref(), Some("recursive=1"));

    let path = RepoPath::parse("src/calc.py").expect("a path");
    let file = client
        .file(&widgets, &path, "main")
        .await
        .expect("the file");
    assert_eq!(String::from_utf8(file.bytes).expect("UTF-8"), CALC_PY);
    assert_eq!(file.blob_id, "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678");
    let request = api.last();
    assert_eq!(
        (request.path.as_str(), request.query.as_deref()),
        ("/repos/acme/widgets/contents/src/calc.py", Some("ref=main"))
    );

    // A folder is not a file; a file too large for the API says so.
    let folder = client
        .file(&widgets, &RepoPath::parse("src").expect("a path"), "main")
        .await;
    assert!(
        matches!(folder, Err(ForgeError::NotFound { .. })),
        "{folder:?}"
    );
    let big = client
        .file(
            &widgets,
            &RepoPath::parse("big.bin").expect("a path"),
            "main",
        )
        .await;
    assert!(
        matches!(&big, Err(ForgeError::Validation { message }) if message.contains("too large")),
        "{big:?}"
    );
    assert_requests_are_clean(&api, &[GOOD_TOKEN]);
}

#[tokio::test]
async fn a_pull_request_is_opened_with_the_documented_body() {
    let api = apis::github().await;
    let client = client(&api, GOOD_TOKEN).await;
    let request = ChangeRequest {
        title: "Tests for src/calc.py".into(),
        body: "| file | verdict |\n|---|---|\n| tests/test_calc.py | passed |".into(),
        head: BranchName::parse("aiunittest/batch-1").expect("a branch"),
        base: BranchName::parse("main").expect("a branch"),
    };
    let opened = client
        .open_change_request(&repo("acme/widgets"), &request)
        .await
        .expect("the pull request");
    assert_eq!(opened.number, 1347);
    assert_eq!(opened.web_url, "https://github.com/acme/widgets/pull/1347");
    let sent = api.last();
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/repos/acme/widgets/pulls")
    );
    assert_eq!(sent.headers["content-type"], "application/json");
    assert_eq!(
        sent.body,
        Some(serde_json::json!({
            "title": "Tests for src/calc.py",
            "head": "aiunittest/batch-1",
            "base": "main",
            "body": "| file | verdict |\n|---|---|\n| tests/test_calc.py | passed |",
            "maintainer_can_modify": true
        }))
    );
    assert_requests_are_clean(&api, &[GOOD_TOKEN]);
}

#[tokio::test]
async fn every_error_answer_maps_to_its_error() {
    let api = apis::github().await;
    let good = client(&api, GOOD_TOKEN).await;
    let pull = |head: &str| ChangeRequest {
        title: "t".into(),
        body: "b".into(),
        head: BranchName::parse(head).expect("a branch"),
        base: BranchName::parse("main").expect("a branch"),
    };

    let wrong = client(&api, "ghp_WrongSecret000000000000000000000").await;
    assert!(matches!(wrong.whoami().await, Err(ForgeError::BadToken)));

    let narrow = client(&api, NARROW_TOKEN).await;
    let scope = narrow
        .open_change_request(&repo("acme/widgets"), &pull("aiunittest/x"))
        .await;
    assert!(
        matches!(&scope, Err(ForgeError::MissingScope { scope }) if scope == "repo"),
        "{scope:?}"
    );

    let missing = good.repository(&repo("acme/missing")).await;
    assert!(
        matches!(&missing, Err(ForgeError::NotFound { message }) if message == "Not Found"),
        "{missing:?}"
    );

    let empty = good
        .tree(
            &repo("acme/empty"),
            &CommitId::parse(COMMIT).expect("a commit"),
        )
        .await;
    assert!(
        matches!(&empty, Err(ForgeError::Conflict { message }) if message == "Git Repository is empty."),
        "{empty:?}"
    );
    let no_default = good.default_branch(&repo("acme/empty")).await;
    assert!(
        matches!(no_default, Err(ForgeError::Conflict { .. })),
        "{no_default:?}"
    );

    let exists = good
        .open_change_request(&repo("acme/widgets"), &pull("aiunittest/existing"))
        .await;
    assert!(
        matches!(&exists, Err(ForgeError::Validation { message })
            if message == "Validation Failed; A pull request already exists for acme:aiunittest/existing."),
        "{exists:?}"
    );

    let limited = good.branches(&repo("acme/busy"), 1).await;
    match limited {
        Err(ForgeError::RateLimited {
            reset_at: Some(reset_at),
            ..
        }) => {
            assert_eq!(reset_at.timestamp(), RESET_EPOCH);
        }
        other => panic!("expected a rate limit with its reset time, got {other:?}"),
    }
    let secondary = good.repository(&repo("acme/hot")).await;
    assert!(
        matches!(secondary, Err(ForgeError::RateLimited { retry_after: Some(wait), .. }) if wait == Duration::from_secs(60)),
        "{secondary:?}"
    );
    let error = good
        .repository(&repo("acme/hot"))
        .await
        .expect_err("limited");
    assert_eq!(
        error.to_string(),
        "the forge's rate limit is used up; retry after 60 s"
    );
}

#[tokio::test]
async fn an_enterprise_base_url_keeps_its_path() {
    // GitHub Enterprise serves the API under `/api/v3`; the mock answers only at the root, so a
    // request that kept the base path answers 404 at exactly that path.
    let api = apis::github().await;
    let enterprise = ForgeClient::connect(
        ForgeKind::Github,
        &format!("{}/api/v3/", api.base),
        ForgeToken::parse(GOOD_TOKEN).expect("a token"),
        &NetworkPolicy::loopback(),
        Duration::from_secs(10),
    )
    .await
    .expect("allowed");
    let error = enterprise.whoami().await.expect_err("nothing there");
    assert!(matches!(error, ForgeError::NotFound { .. }), "{error:?}");
    assert_eq!(api.last().path, "/api/v3/user");
}
