//! The model simulator, served in-process on a free port and called the way the worker calls real
//! models: through `async-openai`, and with plain HTTP where the wire itself is the point.

use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, ChatCompletionStreamOptions, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs, CreateChatCompletionStreamResponse, FinishReason, Role,
};
use codegen::scaffold::Twist;
use codegen::{Syntax, Target};
use domain::{Framework, Language, SourceFileName};
use futures::StreamExt;
use serde_json::{Value, json};
use simulator::{
    AnswerMix, Behaviour, Simulator, SimulatorConfig, SimulatorControl, SimulatorHandle,
    SimulatorStats,
};

const KEY: &str = "sk-sim-test";
const MODEL: &str = "aiut-sim";
const FOREIGN_PROMPT: &str = "Write a haiku about crabs.";

async fn start(config: SimulatorConfig) -> SimulatorHandle {
    Simulator::bind(config, "127.0.0.1:0")
        .await
        .expect("the simulator binds")
        .spawn()
}

fn openai(simulator: &SimulatorControl, key: &str) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(simulator.base_url())
            .with_api_key(key),
    )
}

fn chat(system: &str, user: &str) -> CreateChatCompletionRequest {
    let messages: Vec<ChatCompletionRequestMessage> = vec![
        ChatCompletionRequestSystemMessage::from(system).into(),
        ChatCompletionRequestUserMessage::from(user).into(),
    ];
    CreateChatCompletionRequestArgs::default()
        .model(MODEL)
        .messages(messages)
        .build()
        .expect("a valid request")
}

fn with_usage(mut request: CreateChatCompletionRequest) -> CreateChatCompletionRequest {
    request.stream_options = Some(ChatCompletionStreamOptions {
        include_usage: Some(true),
        include_obfuscation: None,
    });
    request
}

fn foreign_chat() -> CreateChatCompletionRequest {
    chat("You are a poet.", FOREIGN_PROMPT)
}

/// The body of a plain-HTTP chat request.
fn raw_body(stream: bool) -> Value {
    json!({
        "model": MODEL,
        "stream": stream,
        "messages": [{"role": "user", "content": FOREIGN_PROMPT}],
    })
}

async fn raw_chat(simulator: &SimulatorControl, stream: bool) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/chat/completions", simulator.base_url()))
        .bearer_auth(KEY)
        .json(&raw_body(stream))
        .send()
        .await
        .expect("the simulator answers")
}

fn sim_url(simulator: &SimulatorControl, path: &str) -> String {
    format!("http://{}{path}", simulator.local_addr())
}

const PYTHON_SOURCE: &str = r#"def greet(name: str) -> str:
    """Greets someone."""
    return f"Hello, {name}!"


def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b
"#;

/// An AIunittest prompt for `add` (the second unit) and the test code the simulator should send.
fn python_prompt() -> (codegen::prompt::Prompt, String) {
    let file_name = SourceFileName::parse("calc/ops.py").expect("a valid name");
    let target = Target {
        language: Language::Python,
        framework: Framework::Pytest,
        file_name: &file_name,
        source: PYTHON_SOURCE,
    };
    let units = codegen::parse_units(Syntax::Python, PYTHON_SOURCE).expect("the source has units");
    let unit = units
        .iter()
        .find(|unit| unit.name == "add")
        .expect("`add` is a unit");
    let prompt = codegen::prompt::for_unit(&target, unit, None);
    let code = codegen::scaffold::simulated_tests(&target, unit, &Twist::Sample);
    assert!(!code.trim().is_empty(), "the scaffold writes tests");
    (prompt, code)
}

/// The fenced blocks of `content`: (tag, body).
fn fenced_blocks(content: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in content.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(tag)) => open = Some((tag.trim().to_owned(), Vec::new())),
            (Some(_), Some("")) => {
                if let Some((tag, lines)) = open.take() {
                    blocks.push((tag, lines.join("\n")));
                }
            }
            (Some((_, lines)), _) => lines.push(line),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed fence in {content:?}");
    blocks
}

struct Streamed {
    chunks: Vec<CreateChatCompletionStreamResponse>,
    error: Option<OpenAIError>,
}

impl Streamed {
    fn content(&self) -> String {
        self.chunks
            .iter()
            .flat_map(|chunk| &chunk.choices)
            .filter_map(|choice| choice.delta.content.as_deref())
            .collect()
    }

    fn content_chunks(&self) -> usize {
        self.chunks
            .iter()
            .flat_map(|chunk| &chunk.choices)
            .filter(|choice| choice.delta.content.is_some())
            .count()
    }

    fn finished(&self) -> bool {
        self.chunks
            .iter()
            .flat_map(|chunk| &chunk.choices)
            .any(|choice| choice.finish_reason == Some(FinishReason::Stop))
    }
}

async fn stream(client: &Client<OpenAIConfig>, request: CreateChatCompletionRequest) -> Streamed {
    let mut stream = client
        .chat()
        .create_stream(request)
        .await
        .expect("the stream starts");
    let mut streamed = Streamed {
        chunks: Vec::new(),
        error: None,
    };
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => streamed.chunks.push(chunk),
            Err(error) => {
                streamed.error = Some(error);
                break;
            }
        }
    }
    streamed
}

fn api_error(error: OpenAIError) -> (u16, async_openai::error::ApiError) {
    match error {
        OpenAIError::ApiError(response) => (response.status_code.as_u16(), response.api_error),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn keyed() -> SimulatorConfig {
    SimulatorConfig {
        api_key: Some(KEY.into()),
        ..SimulatorConfig::instant()
    }
}

/// Every answer right first time where it can be, so the tests know the code to expect.
fn keyed_all_right() -> SimulatorConfig {
    SimulatorConfig {
        answers: AnswerMix::all_right(),
        ..keyed()
    }
}

#[tokio::test]
async fn answers_an_aiunittest_prompt_with_one_fenced_block_of_the_simulated_tests() {
    let simulator = start(keyed_all_right()).await;
    let (prompt, code) = python_prompt();
    let response = openai(&simulator, KEY)
        .chat()
        .create(chat(&prompt.system, &prompt.user))
        .await
        .expect("an answer");

    assert_eq!(response.object, "chat.completion");
    assert_eq!(response.model, MODEL);
    let choice = &response.choices[0];
    assert_eq!(choice.message.role, Role::Assistant);
    assert_eq!(choice.finish_reason, Some(FinishReason::Stop));
    let content = choice.message.content.as_deref().expect("content");
    let blocks = fenced_blocks(content);
    assert_eq!(blocks.len(), 1, "{content}");
    assert_eq!(blocks[0].0, "python");
    assert_eq!(blocks[0].1, code.trim_end());
    let prose = content.split("```").next().unwrap_or_default();
    assert!(prose.contains("add"), "the prose names the unit: {prose:?}");

    let usage = response.usage.expect("usage");
    let prompt_chars = prompt.system.chars().count() + prompt.user.chars().count();
    assert_eq!(usage.prompt_tokens as usize, prompt_chars.div_ceil(4));
    assert!(usage.completion_tokens as usize >= content.len() / 8);
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
    simulator.stop().await.expect("stops");
}

#[tokio::test]
async fn every_language_gets_its_tests_in_a_block_tagged_with_its_id() {
    let sources = [
        (
            Language::Python,
            "calc.py",
            "def add(a, b):\n    return a + b\n",
        ),
        (
            Language::Java,
            "Calc.java",
            "public class Calc {\n    public int add(int a, int b) { return a + b; }\n}\n",
        ),
        (
            Language::Go,
            "calc.go",
            "package calc\n\nfunc Add(a int, b int) int { return a + b }\n",
        ),
        (
            Language::Cpp,
            "calc.cpp",
            "int add(int a, int b) { return a + b; }\n",
        ),
        (
            Language::Csharp,
            "Calc.cs",
            "public class Calc {\n    public int Add(int a, int b) { return a + b; }\n}\n",
        ),
        (
            Language::Rust,
            "calc.rs",
            "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
        ),
        (
            Language::Javascript,
            "calc.js",
            "export function add(a, b) {\n  return a + b;\n}\n",
        ),
        (
            Language::Typescript,
            "calc.ts",
            "export function add(a: number, b: number): number {\n  return a + b;\n}\n",
        ),
    ];
    let simulator = start(keyed_all_right()).await;
    let client = openai(&simulator, KEY);
    for (language, name, source) in sources {
        let file_name = SourceFileName::parse(name).expect("a valid name");
        let target = Target {
            language,
            framework: language.default_framework(),
            file_name: &file_name,
            source,
        };
        let units = codegen::parse_units(target.source_syntax(), source).expect("units");
        let unit = &units[0];
        let code = codegen::scaffold::simulated_tests(&target, unit, &Twist::Sample);
        for issues in [None, Some("line 2: expected an expression")] {
            let prompt = codegen::prompt::for_unit(
                &target,
                unit,
                issues.map(codegen::prompt::Feedback::Syntax).as_ref(),
            );
            let answer = client
                .chat()
                .create(chat(&prompt.system, &prompt.user))
                .await
                .expect("an answer");
            let content = answer.choices[0].message.content.clone().expect("content");
            let blocks = fenced_blocks(&content);
            assert_eq!(blocks.len(), 1, "{language}: {content}");
            assert_eq!(blocks[0].0, language.id());
            assert_eq!(blocks[0].1, code.trim_end(), "{language}");
            assert_eq!(
                codegen::extract::code_from_answer(&content, language).as_deref(),
                Some(code.trim_end()),
                "{language}: the worker's extraction finds the tests"
            );
            let prose = content.split("```").next().unwrap_or_default();
            assert_eq!(
                prose.contains("corrected"),
                issues.is_some(),
                "a retry prompt gets a corrected answer: {prose:?}"
            );
        }
    }
    simulator.stop().await.expect("stops");
}

#[tokio::test]
async fn streams_the_same_answer_with_the_usage_chunk_last() {
    let simulator = start(keyed()).await;
    let client = openai(&simulator, KEY);
    let (prompt, _) = python_prompt();
    let whole = client
        .chat()
        .create(chat(&prompt.system, &prompt.user))
        .await
        .expect("an answer");
    let streamed = stream(&client, with_usage(chat(&prompt.system, &prompt.user))).await;

    assert!(streamed.error.is_none(), "{:?}", streamed.error);
    assert_eq!(
        Some(streamed.content()),
        whole.choices[0].message.content,
        "streaming and not streaming say the same"
    );
    assert_eq!(fenced_blocks(&streamed.content()).len(), 1);
    assert!(streamed.finished());
    let first = &streamed.chunks[0];
    assert_eq!(first.object, "chat.completion.chunk");
    assert_eq!(first.choices[0].delta.role, Some(Role::Assistant));

    let (last, before) = streamed.chunks.split_last().expect("chunks");
    assert!(last.choices.is_empty(), "the usage chunk has no choices");
    let usage = last.usage.clone().expect("usage on the last chunk");
    assert!(before.iter().all(|chunk| chunk.usage.is_none()));
    assert_eq!(usage.completion_tokens as usize, streamed.content_chunks());
    assert_eq!(Some(usage.clone()), whole.usage);

    let stats = simulator.stats();
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.answered, 2);
    assert_eq!(stats.streamed_chunks, u64::from(usage.completion_tokens));
    assert_eq!(
        stats.completion_tokens,
        2 * u64::from(usage.completion_tokens)
    );
    simulator.stop().await.expect("stops");
}

#[tokio::test]
async fn a_foreign_prompt_gets_a_plain_sentence_streamed_or_not() {
    let simulator = start(keyed()).await;
    let client = openai(&simulator, KEY);
    let whole = client
        .chat()
        .create(foreign_chat())
        .await
        .expect("an answer");
    let content = whole.choices[0].message.content.clone().expect("content");
    assert!(!content.contains("```"), "{content}");
    assert!(content.contains("AIunittest"), "{content}");
    let usage = whole.usage.expect("usage");
    let prompt_chars = "You are a poet.".len() + FOREIGN_PROMPT.len();
    assert_eq!(usage.prompt_tokens as usize, prompt_chars.div_ceil(4));

    let streamed = stream(&client, foreign_chat()).await;
    assert!(streamed.error.is_none(), "{:?}", streamed.error);
    assert_eq!(streamed.content(), content);
    assert!(streamed.finished());
    assert!(
        streamed.chunks.iter().all(|chunk| chunk.usage.is_none()),
        "no usage unless asked for"
    );
    assert_eq!(
        streamed.content_chunks(),
        usage.completion_tokens as usize,
        "a completion token per chunk"
    );
    simulator.stop().await.expect("stops");
}

#[tokio::test]
async fn the_sse_wire_ends_with_done() {
    let simulator = start(keyed()).await;
    let response = raw_chat(&simulator, true).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().ok(),
        Some("text/event-stream")
    );
    let body = response.text().await.expect("a whole body");
    let events: Vec<&str> = body.split_terminator("\n\n").collect();
    assert!(events.iter().all(|event| event.starts_with("data: ")));
    assert_eq!(events.last(), Some(&"data: [DONE]"));
    assert!(body.ends_with("data: [DONE]\n\n"));
    simulator.stop().await.expect("stops");
}

#[tokio::test]
async fn a_scripted_429_carries_retry_after_and_the_client_retries_it() {
    let simulator = start(SimulatorConfig {
        retry_after_secs: 3,
        ..keyed()
    })
    .await;
    simulator.set_script([Behaviour::rate_limited(7), Behaviour::status(429)]);
    let explicit = raw_chat(&simulator, false).await;
    assert_eq!(explicit.status(), 429);
    assert_eq!(explicit.headers()["retry-after"], "7");
    let body: Value = explicit.json().await.expect("a JSON error");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(body["error"]["message"].is_string());
    let configured = raw_chat(&simulator, false).await;
    assert_eq!(configured.status(), 429);
    assert_eq!(
        configured.headers()["retry-after"],
        "3",
        "the configured Retry-After"
    );

    // async-openai retries a 429 after its Retry-After, then gets the answer.
    simulator.set_script([Behaviour::rate_limited(0)]);
    let answer = openai(&simulator, KEY)
        .chat()
        .create(foreign_chat())
        .await
        .expect("answered on the retry");
    assert!(answer.choices[0].message.content.is_some());

    let stats = simulator.stats();
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.by_status.get(&429), Some(&3));
    assert_eq!(stats.by_status.get(&200), Some(&1));
    assert_eq!(stats.answered, 1);
    simulator.stop().await.expect("stops");
}

#[tokio::test]
async fn a_missing_or_wrong_key_and_a_scripted_401_answer_an_openai_error() {
    let simulator = start(keyed()).await;
    simulator.set_script([Behaviour::status(401)]);

    let missing = reqwest::Client::new()
        .post(format!("{}/chat/completions", simulator.base_url()))
        .json(&raw_body(false))
        .send()
        .await
        .expect("an answer");
    assert_eq!(missing.status(), 401);
    let body: Value = missing.json().await.expect("a JSON error");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty())
    );

    let wrong = openai(&simulator, "sk-wrong")
        .chat()
        .create(foreign_chat())
        .await
        .expect_err("a wrong key is refused");
    let (status, error) = api_error(wrong);
    assert_eq!(status, 401);
    assert_eq!(error.code.as_deref(), Some("invalid_api_key"));
    assert_eq!(
        simulator.pending_script(),
        vec![Behaviour::status(401)],
        "refused requests take nothing from the script"
    );

    let client = openai(&simulator, KEY);
    let scripted = client
        .chat()
        .create(foreign_chat())
        .await
        .expect_err("the scripted 401");
    let (status, error) = api_error(scripted);
    assert_eq!(status, 401);
    assert_eq!(error.r#type.as_deref(), Some("invalid_request_error"));
    assert_eq!(error.code.as_deref(), Some("invalid_api_key"));
    assert!(client.chat().create(foreign_chat()).await.is_ok());

    let models_without_key = reqwest::get(format!("{}/models", simulator.base_url()))
        .await
        .expect("an answer");
    assert_eq!(models_without_key.status(), 401);
    let health = reqwest::get(sim_url(&simulator, "/healthz"))
        .await
        .expect("an answer");
    assert_eq!(health.status(), 200, "health needs no key");

    let stats = simulator.stats();
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.by_status.get(&401), Some(&3));
    assert_eq!(stats.by_status.get(&200), Some(&1));
    simulator.stop().await.expect("stops");
}

#[tokio::test]
async fn a_cut_answer_drops_the_connection_before_finishing() {
    let simulator = start(SimulatorConfig {
        cut_after_chunks: 2,
        ..keyed()
    })
    .await;
    let posted = reqwest::Client::new()
        .post(sim_url(&simulator, "/sim/script"))
        .body(r#"["cut", "cut", "cut"]"#)
        .send()
        .await
        .expect("an answer");
    assert_eq!(posted.status(), 200);
    assert_eq!(
        posted.json::<Value>().await.expect("JSON"),
        json!({"queued": 3})
    );

    let client = openai(&simulator, KEY);
    let streamed = stream(&client, with_usage(foreign_chat())).await;
    assert!(
        streamed.error.is_some() || !streamed.finished(),
        "a cut stream must not look finished"
    );
    assert!(!streamed.finished());
    assert!(streamed.content_chunks() <= 2);
    assert!(streamed.chunks.iter().all(|chunk| chunk.usage.is_none()));

    let raw = raw_chat(&simulator, true).await;
    assert_eq!(raw.status(), 200, "the cut comes after the headers");
    assert!(
        raw.bytes().await.is_err(),
        "reading a cut stream to its end fails"
    );

    let whole = client.chat().create(foreign_chat()).await;
    assert!(whole.is_err(), "half a JSON body is no answer: {whole:?}");
    assert!(
        client.chat().create(foreign_chat()).await.is_ok(),
        "normal answers resume after the script"
    );

    let stats = simulator.stats();
    assert_eq!(stats.cuts, 3);
    assert_eq!(stats.answered, 1);
    assert_eq!(stats.by_status.get(&200), Some(&4));
    assert_eq!(stats.streamed_chunks, 4, "two chunks on each cut stream");
    simulator.stop().await.expect("stops");
}

#[tokio::test]
async fn hangs_and_stalls_outlast_the_client_and_end_when_the_simulator_stops() {
    let simulator = start(keyed()).await;
    simulator.set_script([Behaviour::Hang, Behaviour::Stall, Behaviour::Hang]);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("a client");
    let hung = impatient
        .post(format!("{}/chat/completions", simulator.base_url()))
        .bearer_auth(KEY)
        .json(&raw_body(false))
        .send()
        .await
        .expect_err("no answer in time");
    assert!(hung.is_timeout(), "{hung:?}");

    let mut stalled = raw_chat(&simulator, true).await;
    assert_eq!(stalled.status(), 200);
    let mut received = String::new();
    loop {
        match tokio::time::timeout(Duration::from_millis(300), stalled.chunk()).await {
            Ok(Ok(Some(bytes))) => received.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(other) => panic!("a stall neither ends nor fails: {other:?}"),
            Err(_) => break,
        }
    }
    assert!(received.starts_with("data: "), "{received:?}");
    assert!(!received.contains("[DONE]"));

    let control = simulator.control();
    let waiting = tokio::spawn(async move { raw_chat(&control, false).await.status() });
    while simulator.stats().hangs < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = simulator.stats();
    assert_eq!((stats.hangs, stats.stalls), (2, 1));
    let stopping = Instant::now();
    simulator.stop().await.expect("stops");
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "a hang must not hold up the stop: {:?}",
        stopping.elapsed()
    );
    assert!(waiting.await.expect("the request task").is_server_error());
}

#[tokio::test]
async fn models_health_and_unknown_routes() {
    let simulator = start(SimulatorConfig {
        models: vec!["aiut-sim".into(), "gpt-4.1-mini".into()],
        ..keyed()
    })
    .await;
    let models: Value = reqwest::Client::new()
        .get(format!("{}/models", simulator.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("an answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|model| model["id"].as_str())
        .collect();
    assert_eq!(ids, ["aiut-sim", "gpt-4.1-mini"]);
    assert!(
        models["data"]
            .as_array()
            .expect("a list")
            .iter()
            .all(|model| model["object"] == "model")
    );

    let health: Value = reqwest::get(sim_url(&simulator, "/healthz"))
        .await
        .expect("an answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(health, json!({"status": "ok"}));

    let unknown = reqwest::get(format!("{}/embeddings", simulator.base_url()))
        .await
        .expect("an answer");
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.expect("a JSON error");
    assert!(body["error"]["message"].is_string());
    assert_eq!(simulator.stats(), SimulatorStats::default(), "no chat yet");
    simulator.stop().await.expect("stops");
}

#[tokio::test]
async fn malformed_requests_answer_400_and_take_nothing_from_the_script() {
    let simulator = start(keyed()).await;
    simulator.set_script([Behaviour::reply("scripted")]);
    let client = reqwest::Client::new();
    for body in [
        "not json",
        r#"{"messages": []}"#,
        r#"{"model": "aiut-sim", "messages": []}"#,
    ] {
        let response = client
            .post(format!("{}/chat/completions", simulator.base_url()))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.expect("a JSON error");
        assert_eq!(error["error"]["type"], "invalid_request_error");
    }
    let bad_script = client
        .post(sim_url(&simulator, "/sim/script"))
        .body(r#"[{"status": 200}]"#)
        .send()
        .await
        .expect("an answer");
    assert_eq!(bad_script.status(), 400);

    let answer = openai(&simulator, KEY)
        .chat()
        .create(foreign_chat())
        .await
        .expect("an answer");
    assert_eq!(
        answer.choices[0].message.content.as_deref(),
        Some("scripted")
    );
    simulator.stop().await.expect("stops");
}

#[tokio::test]
async fn counters_stay_exact_under_concurrent_requests() {
    let simulator = start(keyed()).await;
    let mut script = vec![Behaviour::status(500); 10];
    script.extend(vec![Behaviour::Answer; 5]);
    simulator.set_script(script);

    let requests = (0..40).map(|index| raw_chat(&simulator, index % 4 == 0));
    let responses = futures::future::join_all(requests).await;
    let mut completion_tokens = 0;
    let mut streamed_tokens = 0;
    for response in responses {
        if response.status() == 500 {
            continue;
        }
        assert_eq!(response.status(), 200);
        let streaming = response.headers()["content-type"] == "text/event-stream";
        let body = response.text().await.expect("a whole body");
        let chunks = body
            .split_terminator("\n\n")
            .filter(|event| event.contains(r#""content":"#))
            .count() as u64;
        if streaming {
            streamed_tokens += chunks;
        } else {
            let answer: Value = serde_json::from_str(&body).expect("JSON");
            completion_tokens += answer["usage"]["completion_tokens"]
                .as_u64()
                .expect("usage");
        }
    }

    let stats = simulator.stats();
    assert_eq!(stats.requests, 40);
    assert_eq!(stats.by_status.get(&500), Some(&10));
    assert_eq!(stats.by_status.get(&200), Some(&30));
    assert_eq!(stats.answered, 30);
    assert_eq!(stats.streamed_chunks, streamed_tokens);
    assert_eq!(stats.completion_tokens, completion_tokens + streamed_tokens);

    let over_http: SimulatorStats = reqwest::get(sim_url(&simulator, "/sim/stats"))
        .await
        .expect("an answer")
        .json()
        .await
        .expect("stats JSON");
    assert_eq!(over_http, stats);
    let reset = reqwest::Client::new()
        .delete(sim_url(&simulator, "/sim/stats"))
        .send()
        .await
        .expect("an answer");
    assert!(reset.status().is_success());
    assert_eq!(simulator.stats(), SimulatorStats::default());
    simulator.stop().await.expect("stops");
}

/// What became of each of 40 sequential requests under the rates, with `seed`.
async fn outcomes(seed: u64) -> Vec<String> {
    let simulator = start(SimulatorConfig {
        seed: Some(seed),
        error_rate: 0.2,
        error_status: 503,
        cut_rate: 0.2,
        ..keyed()
    })
    .await;
    assert_eq!(simulator.seed(), seed);
    let mut outcomes = Vec::new();
    for _ in 0..40 {
        let response = raw_chat(&simulator, false).await;
        let status = response.status().as_u16();
        let outcome = match response.bytes().await {
            Ok(_) => status.to_string(),
            Err(_) => "cut".to_owned(),
        };
        outcomes.push(outcome);
    }
    let stats = simulator.stats();
    let count = |wanted: &str| outcomes.iter().filter(|outcome| *outcome == wanted).count() as u64;
    assert_eq!(stats.cuts, count("cut"));
    assert_eq!(
        stats.by_status.get(&503).copied().unwrap_or(0),
        count("503")
    );
    assert_eq!(stats.answered, count("200"));
    simulator.stop().await.expect("stops");
    outcomes
}

#[tokio::test]
async fn rates_with_a_fixed_seed_are_reproducible() {
    let first = outcomes(7).await;
    let again = outcomes(7).await;
    assert_eq!(first, again);
    for kind in ["200", "503", "cut"] {
        assert!(
            first.iter().any(|outcome| outcome == kind),
            "{kind} in {first:?}"
        );
    }
    assert_ne!(outcomes(8).await, first, "another seed, other failures");
}

/// A running simulator starts and stops failing on request: what the chaos suite does to a
/// deployed model.
#[tokio::test]
async fn failure_rates_change_at_run_time_and_bad_ones_are_refused() {
    let simulator = start(SimulatorConfig {
        seed: Some(11),
        error_status: 503,
        ..keyed()
    })
    .await;
    let http = reqwest::Client::new();
    let rates_url = sim_url(&simulator, "/sim/rates");
    let read = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.expect("JSON"))
    };
    let (status, rates) = read(http.get(&rates_url).send().await.expect("an answer")).await;
    assert_eq!(status, 200);
    assert_eq!(
        rates,
        json!({"error_rate": 0.0, "hang_rate": 0.0, "cut_rate": 0.0, "stall_rate": 0.0})
    );

    let client = openai(&simulator, KEY);
    assert!(client.chat().create(foreign_chat()).await.is_ok());

    let (status, rates) = read(
        http.put(&rates_url)
            .body(r#"{"error_rate": 1.0}"#)
            .send()
            .await
            .expect("an answer"),
    )
    .await;
    assert_eq!(status, 200, "{rates}");
    assert_eq!(rates["error_rate"], json!(1.0));
    assert_eq!(rates["hang_rate"], json!(0.0), "what is not given is kept");
    for _ in 0..3 {
        let status = raw_chat(&simulator, false).await.status().as_u16();
        assert_eq!(status, 503, "every call fails at an error rate of 1");
    }

    for refused in [
        r#"{"error_rate": 1.5}"#,
        r#"{"hang_rate": 0.5}"#,
        r#"{"error_rate": -0.1}"#,
        r#"{"fail_rate": 0.5}"#,
        "not json",
    ] {
        let (status, body) = read(
            http.put(&rates_url)
                .body(refused)
                .send()
                .await
                .expect("an answer"),
        )
        .await;
        assert_eq!(status, 400, "{refused} was accepted: {body}");
    }
    assert_eq!(
        simulator.rates().error_rate,
        1.0,
        "a refused change changes nothing"
    );

    simulator
        .set_rates(&simulator::RatesChange {
            error_rate: Some(0.0),
            ..Default::default()
        })
        .expect("valid rates");
    assert_eq!(raw_chat(&simulator, false).await.status(), 200);
    let stats = simulator.stats();
    assert_eq!(stats.by_status.get(&503), Some(&3));
    assert_eq!(stats.by_status.get(&200), Some(&2));
    simulator.stop().await.expect("stops");
}

#[tokio::test]
async fn answers_keep_the_configured_pace() {
    let simulator = start(SimulatorConfig {
        first_token_ms: 150,
        tokens_per_sec: 100.0,
        ..keyed()
    })
    .await;
    let client = openai(&simulator, KEY);

    let started = Instant::now();
    let mut stream = client
        .chat()
        .create_stream(foreign_chat())
        .await
        .expect("the stream starts");
    let mut first_token = None;
    let mut chunks = 0u32;
    while let Some(item) = stream.next().await {
        let chunk = item.expect("a chunk");
        if chunk
            .choices
            .iter()
            .any(|choice| choice.delta.content.is_some())
        {
            first_token.get_or_insert_with(|| started.elapsed());
            chunks += 1;
        }
    }
    let streamed_in = started.elapsed();
    let first_token = first_token.expect("content came");
    assert!(first_token >= Duration::from_millis(150), "{first_token:?}");
    assert!(first_token < streamed_in);
    let paced = Duration::from_millis(150) + Duration::from_millis(10) * (chunks - 1);
    assert!(streamed_in >= paced, "{streamed_in:?} < {paced:?}");

    let started = Instant::now();
    let whole = client
        .chat()
        .create(foreign_chat())
        .await
        .expect("an answer");
    let tokens = whole.usage.expect("usage").completion_tokens;
    let expected = Duration::from_millis(150) + Duration::from_millis(10) * tokens;
    assert!(
        started.elapsed() >= expected,
        "{:?} < {expected:?}",
        started.elapsed()
    );
    simulator.stop().await.expect("stops");
}

#[cfg(unix)]
#[tokio::test]
async fn the_binary_serves_from_its_environment_and_stops_on_sigterm() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("an address").port()
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aiut-model-sim"))
        .env("AIUT_SIM_LISTEN", format!("127.0.0.1:{port}"))
        .env("AIUT_SIM_MODELS", "[from-env]")
        .env("AIUT_SIM_FIRST_TOKEN_MS", "0")
        .env("AIUT_SIM_TOKENS_PER_SEC", "0")
        .env_remove("AIUT_SIM_CONFIG")
        .env_remove("AIUT_SIM_API_KEY")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    let models_url = format!("http://127.0.0.1:{port}/v1/models");
    let deadline = Instant::now() + Duration::from_secs(20);
    let models: Value = loop {
        match reqwest::get(&models_url).await {
            Ok(response) => break response.json().await.expect("JSON"),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => {
                let _ = child.kill();
                panic!("the binary never answered: {error}");
            }
        }
    };
    assert_eq!(models["data"][0]["id"], "from-env");

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child's status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the binary did not stop on SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}
