//! What only the gateway does, proven over fake backends (no database needed): every task
//! creation retried with the gateway's own create token, the client told to the api and limited
//! behind trusted proxies, and the deadline on request headers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::client;
use crate::fake::{Behaviour, FakeBackend};
use crate::frontdoor::FrontDoor;

/// A create body of `size` bytes or a little more.
fn create_body(size: usize) -> String {
    json!({ "source": format!("def f():\n    return 1\n{}", "#".repeat(size)), "filename": "f.py" })
        .to_string()
}

/// A replica that reads a create and dies before answering costs the client nothing: the gateway
/// sends it again to another replica with the same create token (which the api answers with the
/// task the first attempt made). A client's own token or client header never reaches a replica. A
/// create whose body outgrew Pingora's 64 KiB replay buffer is not sent again.
#[tokio::test]
async fn a_create_whose_replica_dies_after_reading_it_is_answered_by_another_with_the_same_token() {
    let _turn = crate::ONE_AT_A_TIME.lock().await;
    let dying = FakeBackend::start("dying", Behaviour::DropPosts).await;
    let healthy = FakeBackend::start("healthy", Behaviour::Answer).await;
    // No ejection: the dying replica stays in rotation, so first attempts alternate.
    let gateway = FrontDoor::start_gateway(
        &[dying.address, healthy.address],
        "max_fails = 0\n",
        "trusted_networks = []\ncreate_per_sec = 0.0\n",
    )
    .await;
    let client = client();
    const CREATES: usize = 6;
    for n in 0..CREATES {
        let path = if n % 2 == 0 {
            "/api/tasks"
        } else {
            "/api/generate-test"
        };
        let response = client
            .post(gateway.url(path))
            .header("content-type", "application/json")
            .header("x-aiut-create-token", "forged-by-the-client")
            .header("x-aiut-client", "6.6.6.6")
            .body(create_body(100))
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 202, "create #{n} through {path}: {body}");
        assert!(body.contains("healthy"), "{body}");
    }
    let dropped = dying.seen();
    let answered = healthy.seen();
    eprintln!(
        "[gateway] {CREATES} creates: the dying replica read {}, the healthy one {}",
        dropped.len(),
        answered.len()
    );
    assert!(
        !dropped.is_empty(),
        "round robin sent no create to the dying replica first"
    );
    assert_eq!(answered.len(), CREATES, "each create answered once");
    let token_of = |seen: &crate::fake::Seen| {
        assert_eq!(seen.headers_named("x-aiut-create-token"), 1, "{seen:?}");
        assert_eq!(seen.header("x-aiut-client"), Some("127.0.0.1"), "{seen:?}");
        seen.header("x-aiut-create-token")
            .expect("a create token")
            .to_owned()
    };
    let answered_tokens: Vec<String> = answered.iter().map(token_of).collect();
    for token in &answered_tokens {
        let parsed = uuid::Uuid::parse_str(token).expect("the token is a UUID");
        assert_eq!(parsed.get_version_num(), 4, "{token}");
    }
    let mut distinct = answered_tokens.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), CREATES, "one token per client request");
    for seen in &dropped {
        let token = token_of(seen);
        assert!(
            answered_tokens.contains(&token),
            "the retry of {token} carried another token: {answered_tokens:?}"
        );
    }

    // Past the replay buffer: what reached the dying replica cannot be sent again.
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for _ in 0..2 {
        let response = client
            .post(gateway.url("/api/tasks"))
            .header("content-type", "application/json")
            .body(create_body(100 * 1024))
            .send()
            .await
            .expect("an answer");
        *statuses.entry(response.status().as_u16()).or_default() += 1;
    }
    eprintln!("[gateway] two 100 KiB creates, one first sent to the dying replica: {statuses:?}");
    assert_eq!(
        statuses,
        BTreeMap::from([(202, 1), (502, 1)]),
        "a 100 KiB body is past the 64 KiB replay buffer, so it is not sent twice"
    );
    let last = dying.seen().pop().expect("the large create");
    assert!(
        last.body_length > 100 * 1024,
        "the dying replica read the whole body first"
    );
    assert_eq!(dying.seen().len(), dropped.len() + 1);
    assert_eq!(healthy.seen().len(), CREATES + 1);
}

/// Sends a request from loopback claiming `forwarded_for`; returns its status.
async fn request_as(
    client: &reqwest::Client,
    gateway: &FrontDoor,
    method: reqwest::Method,
    path: &str,
    forwarded_for: Option<&str>,
) -> u16 {
    let mut request = client
        .request(method.clone(), gateway.url(path))
        .header("x-aiut-client", "forged");
    if method == reqwest::Method::POST {
        request = request
            .header("content-type", "application/json")
            .body(create_body(10));
    }
    if let Some(chain) = forwarded_for {
        request = request.header("x-forwarded-for", chain);
    }
    request.send().await.expect("an answer").status().as_u16()
}

/// Behind a trusted proxy (loopback here), each client its `X-Forwarded-For` names is limited on
/// its own — task creations at the create rate whatever the body, IPv6 clients by /64 — and told
/// to the api in `x-aiut-client`; the proxy itself, as a client, stays exempt (and unnamed); a
/// forwarded client is no operator even though the proxy is on loopback.
#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_limited_and_named_to_the_api() {
    let _turn = crate::ONE_AT_A_TIME.lock().await;
    let backend = FakeBackend::start("replica", Behaviour::Answer).await;
    let gateway = FrontDoor::start_gateway(
        &[backend.address],
        "",
        "trusted_networks = [\"127.0.0.1/32\"]\n\
         api_per_sec = 0.01\napi_burst = 100\ncreate_per_sec = 0.01\ncreate_burst = 3\n",
    )
    .await;
    let client = client();
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;

    // Who the api is told.
    for (chain, key) in [
        (Some("6.6.6.6, 203.0.113.5"), "203.0.113.5"),
        (Some("2001:db8:1:2::99"), "2001:db8:1:2::/64"),
        (Some("::ffff:198.51.100.4"), "198.51.100.4"),
        // The trusted proxy as the client: exempt from the api's per-client cap too.
        (None, ""),
    ] {
        assert_eq!(
            request_as(&client, &gateway, get.clone(), "/api/languages", chain).await,
            202
        );
        let seen = backend
            .seen()
            .pop()
            .expect("the request reached the replica");
        if key.is_empty() {
            assert_eq!(seen.headers_named("x-aiut-client"), 0, "for {chain:?}");
        } else {
            assert_eq!(seen.header("x-aiut-client"), Some(key), "for {chain:?}");
            assert_eq!(seen.headers_named("x-aiut-client"), 1);
        }
        let expected_chain = chain.map_or("127.0.0.1".to_owned(), |chain| {
            format!("{chain}, 127.0.0.1")
        });
        assert_eq!(
            seen.header("x-forwarded-for"),
            Some(expected_chain.as_str())
        );
        assert!(seen.header("x-aiut-create-token").is_none(), "not a create");
    }

    // Creates, JSON bodies, through both creating paths: three per client, then 429.
    let mut accepted = BTreeMap::new();
    let clients: [(&str, Vec<String>); 3] = [
        ("203.0.113.7", vec!["203.0.113.7".to_owned(); 6]),
        ("203.0.113.8", vec!["203.0.113.8".to_owned(); 2]),
        (
            "one /64",
            (1..=6).map(|n| format!("2001:db8:9:9::{n}")).collect(),
        ),
    ];
    for (client_name, chains) in clients {
        let mut passed = 0;
        for (n, chain) in chains.iter().enumerate() {
            let path = if n % 2 == 0 {
                "/api/tasks"
            } else {
                "/api/generate-test"
            };
            if request_as(&client, &gateway, post.clone(), path, Some(chain)).await == 202 {
                passed += 1;
            }
        }
        accepted.insert(client_name, passed);
    }
    eprintln!("[gateway] creates accepted per forwarded client (burst 3): {accepted:?}");
    assert_eq!(
        accepted,
        BTreeMap::from([("203.0.113.7", 3), ("203.0.113.8", 2), ("one /64", 3)])
    );
    for _ in 0..6 {
        assert_eq!(
            request_as(&client, &gateway, post.clone(), "/api/tasks", None).await,
            202,
            "the trusted proxy itself is exempt"
        );
    }

    // Operators are the proxy's own network, not whoever it forwards.
    assert_eq!(
        request_as(
            &client,
            &gateway,
            get.clone(),
            "/gateway/status",
            Some("203.0.113.5")
        )
        .await,
        404
    );
    assert_eq!(
        request_as(&client, &gateway, get, "/gateway/status", None).await,
        200
    );
}

/// When `connection` is closed by the gateway (read gives 0 or an error), while one header byte
/// is sent every 500 ms; `None` if it is still open after `give_up`.
async fn trickle_until_closed(connection: TcpStream, give_up: Duration) -> Option<Instant> {
    let (mut read, mut write) = connection.into_split();
    let closed = tokio::spawn(async move {
        let mut buffer = [0u8; 1024];
        loop {
            match read.read(&mut buffer).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {}
            }
        }
    });
    let started = Instant::now();
    let mut closed = std::pin::pin!(closed);
    while started.elapsed() < give_up {
        tokio::select! {
            at = &mut closed => return at.ok(),
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                // A write after the close may fail; the reader tells when it happened.
                let _ = write.write_all(b"a").await;
            }
        }
    }
    None
}

/// A client trickling its header a byte every 500 ms is cut off at the header deadline (2 s
/// here; 10 s by default), on a new connection and between kept-alive requests alike, while a
/// normal client is served all along.
#[tokio::test]
async fn a_trickled_header_is_cut_off_at_the_deadline_while_others_are_served() {
    let _turn = crate::ONE_AT_A_TIME.lock().await;
    const HEADER_DEADLINE: Duration = Duration::from_secs(2);
    const KEEPALIVE_DEADLINE: Duration = Duration::from_secs(3);
    const GIVE_UP: Duration = Duration::from_secs(12);
    let backend = FakeBackend::start("replica", Behaviour::Answer).await;
    let gateway = FrontDoor::start_gateway(
        &[backend.address],
        "header_timeout_secs = 2\nkeepalive_timeout_secs = 3\n",
        "trusted_networks = []\n",
    )
    .await;

    let served = {
        let url = gateway.url("/health");
        tokio::spawn(async move {
            let client = client();
            let mut slowest = Duration::ZERO;
            let mut answered = 0;
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                let sent = Instant::now();
                let response = client.get(&url).send().await.expect("an answer");
                assert_eq!(response.status().as_u16(), 200);
                slowest = slowest.max(sent.elapsed());
                answered += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (answered, slowest)
        })
    };

    // A new connection whose first header never ends. Each clock starts before the gateway's
    // can (before the connection, before the request): on a loaded machine this task may resume
    // well after the gateway has accepted or answered, and would see a deadline kept as early.
    let opened = Instant::now();
    let mut slow = TcpStream::connect(gateway.address).await.expect("connect");
    slow.write_all(b"GET /api/languages HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
        .await
        .expect("the start of a header");
    let closed = trickle_until_closed(slow, GIVE_UP)
        .await
        .expect("the trickling connection was never closed");
    let first_cut = closed - opened;

    // A kept-alive connection: one whole request answered, then a trickled one.
    let mut kept = TcpStream::connect(gateway.address).await.expect("connect");
    let asked = Instant::now();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: kept\r\n\r\n")
        .await
        .expect("a request");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !answer.ends_with(b"healthy\n") {
        let read = tokio::time::timeout(Duration::from_secs(5), kept.read(&mut buffer))
            .await
            .expect("an answer within 5 s")
            .expect("the answer reads");
        assert!(read > 0, "closed before the answer");
        answer.extend_from_slice(&buffer[..read]);
    }
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: kept\r\nX-Slow: ")
        .await
        .expect("the start of the next header");
    let closed = trickle_until_closed(kept, GIVE_UP)
        .await
        .expect("the kept-alive trickling connection was never closed");
    let second_cut = closed - asked;

    let (health_answers, slowest) = served.await.expect("the normal client");
    eprintln!(
        "[gateway] slowloris: first header cut after {first_cut:?} (deadline {HEADER_DEADLINE:?}), \
         the next one on a kept-alive connection after {second_cut:?} (deadline \
         {KEEPALIVE_DEADLINE:?}); meanwhile {health_answers} normal answers, the slowest in \
         {slowest:?}"
    );
    assert!(
        first_cut >= HEADER_DEADLINE - Duration::from_millis(100)
            && first_cut < HEADER_DEADLINE + Duration::from_secs(2),
        "the first header was cut after {first_cut:?}"
    );
    assert!(
        second_cut >= KEEPALIVE_DEADLINE - Duration::from_millis(100)
            && second_cut < KEEPALIVE_DEADLINE + Duration::from_secs(2),
        "the kept-alive header was cut after {second_cut:?}"
    );
    assert!(health_answers >= 10, "{health_answers} answers in 5 s");
    assert!(
        slowest < Duration::from_secs(1),
        "a normal answer took {slowest:?}"
    );
}
