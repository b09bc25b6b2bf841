//! The token never shows: not in any error's Display or Debug, not in git's stderr passed on,
//! not in a URL a server saw, not in the client's own Debug.

use std::time::Duration;

use forge::{
    BranchName, ChangeRequest, CommitId, ForgeClient, ForgeError, ForgeKind, ForgeToken,
    NetworkPolicy, RepoName, RepoPath,
};

use forge::testing::apis::{self, GOOD_TOKEN, NARROW_TOKEN};
use forge::testing::git_server::GitServer;

fn assert_hidden(error: &ForgeError, secrets: &[&str]) {
    let shown = format!("{error} | {error:?}");
    for secret in secrets {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
}

#[tokio::test]
async fn no_error_shows_the_token() {
    // The GitHub and GitLab errors, each answer of the mock servers.
    for (kind, api) in [
        (ForgeKind::Github, apis::github().await),
        (ForgeKind::Gitlab, apis::gitlab().await),
    ] {
        for token in [
            GOOD_TOKEN,
            NARROW_TOKEN,
            "ghp_UnknownSecret99999999999999999",
        ] {
            let client = ForgeClient::connect(
                kind,
                &api.base,
                ForgeToken::parse(token).expect("a token"),
                &NetworkPolicy::loopback(),
                Duration::from_secs(10),
            )
            .await
            .expect("allowed");
            assert!(!format!("{client:?}").contains(token), "the client's Debug");
            let name = |text: &str| RepoName::parse(kind, text).expect("a name");
            let commit = CommitId::parse(apis::COMMIT).expect("a commit");
            let change = ChangeRequest {
                title: "t".into(),
                body: "b".into(),
                head: BranchName::parse("aiunittest/existing").expect("a branch"),
                base: BranchName::parse("main").expect("a branch"),
            };
            let mut errors = Vec::new();
            errors.extend(client.whoami().await.err());
            for repository in ["acme/missing", "acme/busy", "acme/hot", "acme/empty"] {
                errors.extend(client.repository(&name(repository)).await.err());
                errors.extend(client.tree(&name(repository), &commit).await.err());
            }
            errors.extend(
                client
                    .file(
                        &name("acme/widgets"),
                        &RepoPath::parse("nope").expect("a path"),
                        "main",
                    )
                    .await
                    .err(),
            );
            errors.extend(
                client
                    .open_change_request(&name("acme/widgets"), &change)
                    .await
                    .err(),
            );
            assert!(
                errors.len() >= 5,
                "the error cases were reached: {errors:?}"
            );
            for error in &errors {
                assert_hidden(error, &[token]);
            }
        }
        for request in api.requests() {
            for token in [GOOD_TOKEN, NARROW_TOKEN] {
                assert!(
                    !request.path.contains(token)
                        && !request.query.clone().unwrap_or_default().contains(token)
                );
            }
        }
    }

    // An unreachable forge: the transport's message names no token either.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let closed = listener.local_addr().expect("its address");
    drop(listener);
    let client = ForgeClient::connect(
        ForgeKind::Github,
        &format!("http://{closed}"),
        ForgeToken::parse(GOOD_TOKEN).expect("a token"),
        &NetworkPolicy::loopback(),
        Duration::from_secs(5),
    )
    .await
    .expect("allowed");
    let error = client.whoami().await.expect_err("nothing listens");
    assert!(matches!(error, ForgeError::Unreachable(_)), "{error:?}");
    assert_hidden(&error, &[GOOD_TOKEN]);
}

#[tokio::test]
async fn gits_messages_are_passed_on_without_the_token() {
    let server = GitServer::start("oauth2", "glpat-right-secret-000").await;
    server.create_repo("acme/widgets", &[&[("a.py", "x = 1\n")]]);
    let wrong = "glpat-leaky-secret-424242";
    // Basic credentials as git would send them, which a message could echo.
    let remote = crate::git_http::remote(&server, "acme/widgets", wrong).await;
    let checkout = tempfile::tempdir().expect("a folder");
    let commit = CommitId::parse(&"a".repeat(40)).expect("a commit");
    let error = remote
        .clone_at(&commit, checkout.path())
        .await
        .expect_err("refused");
    assert_hidden(
        &error,
        &[wrong, "b2F1dGgyOmdscGF0LWxlYWt5LXNlY3JldC00MjQyNDI"],
    );
    assert!(format!("{remote:?}").contains("ForgeToken(***)"));
    assert!(!format!("{remote:?}").contains(wrong));
    // A commit the server does not have, with the right token: git's own message comes through.
    let right = crate::git_http::remote(&server, "acme/widgets", "glpat-right-secret-000").await;
    let other = tempfile::tempdir().expect("a folder");
    let error = right
        .clone_at(&commit, other.path())
        .await
        .expect_err("no such commit");
    let shown = error.to_string();
    assert!(
        shown.contains("fetch") || shown.contains("not found"),
        "{shown}"
    );
    assert_hidden(
        &error,
        &[
            "glpat-right-secret-000",
            "b2F1dGgyOmdscGF0LXJpZ2h0LXNlY3JldC0wMDA",
        ],
    );
    for url in server.requested_urls() {
        assert!(!url.contains("secret"), "{url}");
    }
}

#[tokio::test]
async fn a_server_that_echoes_the_credentials_is_redacted() {
    let token = "glpat-echoed-secret-777";
    let server = GitServer::start("oauth2", token).await;
    let commits = server.create_repo("acme/widgets", &[&[("a.py", "x = 1\n")]]);
    server.refuse_pushes(
        "acme/widgets",
        &format!("refused for $HTTP_AUTHORIZATION, token {token}"),
    );
    let remote = crate::git_http::remote(&server, "acme/widgets", token).await;
    let error = remote
        .push_branch(&crate::git_http::push_of(
            &commits[0],
            "aiunittest/x",
            &[("tests/test_a.py", "x\n")],
        ))
        .await
        .expect_err("the hook refuses");
    let shown = error.to_string();
    // git's own message comes through, with the credentials taken out.
    assert!(
        shown.contains("git push failed") && shown.contains("refused for Basic ***, token ***"),
        "{shown}"
    );
    let basic = "b2F1dGgyOmdscGF0LWVjaG9lZC1zZWNyZXQtNzc3";
    assert_hidden(&error, &[token, basic]);
}
