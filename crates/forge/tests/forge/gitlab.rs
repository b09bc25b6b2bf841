//! The GitLab client against the local GitLab API server.

use std::time::Duration;

use forge::{
    BranchName, Capability, ChangeRequest, CommitId, EntryKind, ForgeClient, ForgeError, ForgeKind,
    ForgeToken, NetworkPolicy, RepoName, RepoPath,
};

use forge::testing::apis::{self, CALC_PY, COMMIT, GOOD_TOKEN, MockApi, NARROW_TOKEN, RESET_EPOCH};

pub async fn client(api: &MockApi, token: &str) -> ForgeClient {
    ForgeClient::connect(
        ForgeKind::Gitlab,
        &api.base,
        ForgeToken::parse(token).expect("a token"),
        &NetworkPolicy::loopback(),
        Duration::from_secs(10),
    )
    .await
    .expect("loopback is allowed")
}

fn repo(name: &str) -> RepoName {
    RepoName::parse(ForgeKind::Gitlab, name).expect("a project path")
}

fn assert_requests_are_clean(api: &MockApi, tokens: &[&str]) {
    for request in api.requests() {
        let authorization = request.headers["authorization"].to_str().expect("ASCII");
        assert!(
            tokens
                .iter()
                .any(|token| authorization == format!("Bearer {token}")),
            "{authorization}"
        );
        assert!(
            request.headers.get("private-token").is_none(),
            "one header carries the token"
        );
        let elsewhere = format!("{} {:?} {:?}", request.path, request.query, request.body);
        for token in tokens {
            assert!(
                !elsewhere.contains(token),
                "the token travelled outside its header: {elsewhere}"
            );
        }
    }
}

#[tokio::test]
async fn who_am_i_asks_for_the_tokens_own_scopes() {
    let api = apis::gitlab().await;
    let identity = client(&api, GOOD_TOKEN)
        .await
        .whoami()
        .await
        .expect("the user");
    assert_eq!(identity.login, "tanuki");
    assert_eq!(
        identity.scopes,
        Some(vec!["api".to_owned(), "write_repository".to_owned()])
    );
    let paths: Vec<String> = api
        .requests()
        .into_iter()
        .map(|request| request.path)
        .collect();
    assert_eq!(
        paths,
        ["/api/v4/user", "/api/v4/personal_access_tokens/self"]
    );

    let narrow = client(&api, NARROW_TOKEN)
        .await
        .whoami()
        .await
        .expect("the user");
    assert!(narrow.require(ForgeKind::Gitlab, Capability::Read).is_ok());
    let push = narrow
        .require(ForgeKind::Gitlab, Capability::Push)
        .expect_err("no write scope");
    assert!(
        matches!(&push, ForgeError::MissingScope { scope } if scope == "write_repository"),
        "{push:?}"
    );
    assert_requests_are_clean(&api, &[GOOD_TOKEN, NARROW_TOKEN]);
}

#[tokio::test]
async fn projects_are_paged_by_x_next_page() {
    let api = apis::gitlab().await;
    let client = client(&api, GOOD_TOKEN).await;
    let first = client.repositories(1).await.expect("page 1");
    assert_eq!(first.next_page, Some(2));
    assert_eq!(first.items[0].full_name, "acme/tools/widgets");
    assert_eq!(
        first.items[0].clone_url,
        "https://gitlab.example.com/acme/tools/widgets.git"
    );
    assert!(first.items[0].private);
    let request = api.last();
    assert_eq!(request.path, "/api/v4/projects");
    assert_eq!(
        request.query.as_deref(),
        Some("membership=true&simple=true&order_by=path&sort=asc&per_page=100&page=1")
    );
    let second = client.repositories(2).await.expect("page 2");
    assert_eq!(
        second.next_page, None,
        "an empty x-next-page ends the listing"
    );
    assert_eq!(second.items[0].full_name, "tanuki/notes");
    assert_requests_are_clean(&api, &[GOOD_TOKEN]);
}

#[tokio::test]
async fn a_project_path_is_one_encoded_segment() {
    let api = apis::gitlab().await;
    let client = client(&api, GOOD_TOKEN).await;
    let widgets = repo("acme/tools/widgets");

    assert_eq!(
        client
            .default_branch(&widgets)
            .await
            .expect("the project")
            .as_str(),
        "main"
    );
    assert_eq!(api.last().path, "/api/v4/projects/acme%2Ftools%2Fwidgets");

    let branches = client.branches(&widgets, 1).await.expect("branches");
    assert_eq!(branches.items[0].name, "main");
    assert_eq!(branches.items[0].commit, COMMIT);
    assert!(branches.items[0].protected && !branches.items[1].protected);
    assert_eq!(
        api.last().path,
        "/api/v4/projects/acme%2Ftools%2Fwidgets/repository/branches"
    );

    let tree = client
        .tree(&widgets, &CommitId::parse(COMMIT).expect("a commit"))
        .await
        .expect("the tree");
    let kinds: Vec<(&str, EntryKind)> = tree
        .entries
        .iter()
        .map(|entry| (entry.path.as_str(), entry.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("src", EntryKind::Directory),
            ("src/calc.py", EntryKind::File),
            ("docs", EntryKind::Symlink)
        ]
    );
    assert!(!tree.truncated);
    let pages: Vec<Option<String>> = api
        .requests()
        .into_iter()
        .filter(|request| request.path.ends_with("/repository/tree"))
        .map(|request| request.query)
        .collect();
    assert_eq!(
        pages,
        [
            Some(format!("ref={COMMIT}&recursive=true&per_page=100&page=1")),
            Some(format!("ref={COMMIT}&recursive=true&per_page=100&page=2")),
        ],
        "every page of the tree is read"
    );

    let file = client
        .file(
            &widgets,
            &RepoPath::parse("src/calc.py").expect("a path"),
            "main",
        )
        .await
        .expect("the file");
    assert_eq!(String::from_utf8(file.bytes).expect("UTF-8"), CALC_PY);
    let request = api.last();
    assert_eq!(
        request.path,
        "/api/v4/projects/acme%2Ftools%2Fwidgets/repository/files/src%2Fcalc.py"
    );
    assert_eq!(request.query.as_deref(), Some("ref=main"));
    assert_requests_are_clean(&api, &[GOOD_TOKEN]);
}

#[tokio::test]
async fn a_merge_request_is_opened_with_the_documented_body() {
    let api = apis::gitlab().await;
    let client = client(&api, GOOD_TOKEN).await;
    let request = ChangeRequest {
        title: "Tests for src/calc.py".into(),
        body: "Generated tests".into(),
        head: BranchName::parse("aiunittest/batch-1").expect("a branch"),
        base: BranchName::parse("main").expect("a branch"),
    };
    let opened = client
        .open_change_request(&repo("acme/widgets"), &request)
        .await
        .expect("the merge request");
    assert_eq!(opened.number, 12);
    assert_eq!(
        opened.web_url,
        "https://gitlab.example.com/acme/widgets/-/merge_requests/12"
    );
    let sent = api.last();
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/api/v4/projects/acme%2Fwidgets/merge_requests")
    );
    assert_eq!(
        sent.body,
        Some(serde_json::json!({
            "source_branch": "aiunittest/batch-1",
            "target_branch": "main",
            "title": "Tests for src/calc.py",
            "description": "Generated tests",
            "remove_source_branch": false
        }))
    );
    assert_requests_are_clean(&api, &[GOOD_TOKEN]);
}

#[tokio::test]
async fn every_error_answer_maps_to_its_error() {
    let api = apis::gitlab().await;
    let good = client(&api, GOOD_TOKEN).await;
    let merge = |head: &str, base: &str| ChangeRequest {
        title: "t".into(),
        body: "b".into(),
        head: BranchName::parse(head).expect("a branch"),
        base: BranchName::parse(base).expect("a branch"),
    };

    let wrong = client(&api, "glpat-WrongSecret00000000000").await;
    let error = wrong.whoami().await.expect_err("refused");
    assert!(matches!(error, ForgeError::BadToken), "{error:?}");

    let narrow = client(&api, NARROW_TOKEN).await;
    let scope = narrow
        .open_change_request(&repo("acme/widgets"), &merge("aiunittest/x", "main"))
        .await;
    assert!(
        matches!(&scope, Err(ForgeError::MissingScope { scope }) if scope == "api"),
        "{scope:?}"
    );

    let missing = good.repository(&repo("acme/missing")).await;
    assert!(
        matches!(&missing, Err(ForgeError::NotFound { message }) if message == "404 Project Not Found"),
        "{missing:?}"
    );
    let no_file = good
        .file(
            &repo("acme/widgets"),
            &RepoPath::parse("nope.py").expect("a path"),
            "main",
        )
        .await;
    assert!(
        matches!(&no_file, Err(ForgeError::NotFound { message }) if message == "404 File Not Found"),
        "{no_file:?}"
    );

    let conflict = good
        .open_change_request(&repo("acme/widgets"), &merge("aiunittest/existing", "main"))
        .await;
    assert!(
        matches!(&conflict, Err(ForgeError::Conflict { message })
            if message == "Another open merge request already exists for this source branch: !3"),
        "{conflict:?}"
    );
    let invalid = good
        .open_change_request(&repo("acme/widgets"), &merge("main", "main"))
        .await;
    assert!(
        matches!(&invalid, Err(ForgeError::Validation { message })
            if message == "target_branch: must be different from the source branch"),
        "{invalid:?}"
    );

    let limited = good.branches(&repo("acme/busy"), 1).await;
    match limited {
        Err(ForgeError::RateLimited {
            reset_at: Some(reset_at),
            retry_after,
        }) => {
            assert_eq!(reset_at.timestamp(), RESET_EPOCH);
            assert_eq!(retry_after, Some(Duration::from_secs(30)));
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
}
