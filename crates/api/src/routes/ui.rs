//! The web UI: hand-written HTML, CSS and JavaScript modules under `crates/api/ui/`, embedded in
//! the binary at compile time (no build step, no Node toolchain, nothing fetched from another
//! host), served at `/`, the administrator's page at `/admin`, and their files at `/assets/…`.
//!
//! - **Caching.** Every file carries a strong `ETag` (a hash of its bytes) and
//!   `Cache-Control: no-cache`: browsers keep the files and revalidate them on each use with
//!   `If-None-Match`, answered `304` without a body. A new release is picked up at once, with no
//!   renaming step. The gateway's gzip weakens the tag (`W/"…"`); `If-None-Match` compares
//!   weakly, as RFC 9110 says it must.
//! - **Content-Security-Policy** allowing only this origin: scripts and styles from files of ours
//!   (no inline script, no inline style, no `eval`), requests to this origin only, no framing.
//! - The page learns the source size limit from a `<meta>` tag filled in from the settings, so it
//!   can refuse an oversize file before sending it.
//! - An unknown file under `/assets/` is a `404` in the one JSON error shape.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::{ApiError, ErrorCode};

/// The paths the UI is served at, in axum's syntax (GET, and HEAD with it). They are left out of
/// the OpenAPI document on purpose: it describes the JSON API, not the page that uses it.
pub const UI_ROUTES: [&str; 3] = ["/", "/admin", "/assets/{*path}"];

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; manifest-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// The page; `{{max_source_bytes}}` is replaced by the configured limit.
const INDEX: &str = include_str!("../../ui/index.html");
const MAX_SOURCE_BYTES: &str = "{{max_source_bytes}}";
/// The administrator's page: the login, the model registry and the audit log, over the admin API.
const ADMIN: &str = include_str!("../../ui/admin.html");

/// Every file of `ui/assets/`, by its path under `/assets/`. A test holds this list to the folder.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.css", CSS, include_bytes!("../../ui/assets/app.css")),
    (
        "app.js",
        JAVASCRIPT,
        include_bytes!("../../ui/assets/app.js"),
    ),
    (
        "admin.js",
        JAVASCRIPT,
        include_bytes!("../../ui/assets/admin.js"),
    ),
    (
        "api.js",
        JAVASCRIPT,
        include_bytes!("../../ui/assets/api.js"),
    ),
    (
        "editor.js",
        JAVASCRIPT,
        include_bytes!("../../ui/assets/editor.js"),
    ),
    (
        "highlight.js",
        JAVASCRIPT,
        include_bytes!("../../ui/assets/highlight.js"),
    ),
    (
        "repository.js",
        JAVASCRIPT,
        include_bytes!("../../ui/assets/repository.js"),
    ),
    (
        "stream.js",
        JAVASCRIPT,
        include_bytes!("../../ui/assets/stream.js"),
    ),
    (
        "theme.js",
        JAVASCRIPT,
        include_bytes!("../../ui/assets/theme.js"),
    ),
    (
        "theme-button.js",
        JAVASCRIPT,
        include_bytes!("../../ui/assets/theme-button.js"),
    ),
    (
        "util.js",
        JAVASCRIPT,
        include_bytes!("../../ui/assets/util.js"),
    ),
    (
        "validation.js",
        JAVASCRIPT,
        include_bytes!("../../ui/assets/validation.js"),
    ),
    (
        "favicon.svg",
        SVG,
        include_bytes!("../../ui/assets/favicon.svg"),
    ),
];

/// One file as served.
struct File {
    content_type: &'static str,
    body: Bytes,
    etag: HeaderValue,
}

impl File {
    fn new(content_type: &'static str, body: Bytes) -> File {
        let etag = HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(&body)))
            .unwrap_or(HeaderValue::from_static("\"0\""));
        File {
            content_type,
            body,
            etag,
        }
    }

    /// `304` when the client holds this version, else the file. HEAD gets the same headers; axum
    /// drops the body.
    fn answer(&self, request_headers: &HeaderMap) -> Response {
        let fresh = request_headers
            .get(header::IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|tags| matches_weakly(tags, &self.etag));
        let mut headers = vec![
            (header::ETAG, self.etag.clone()),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ];
        if fresh {
            return (StatusCode::NOT_MODIFIED, headers_map(headers)).into_response();
        }
        headers.push((
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        ));
        (headers_map(headers), self.body.clone()).into_response()
    }
}

fn headers_map(pairs: Vec<(HeaderName, HeaderValue)>) -> HeaderMap {
    pairs.into_iter().collect()
}

/// Whether an `If-None-Match` list names `etag`, ignoring weakness (`W/`) on either side.
fn matches_weakly(tags: &str, etag: &HeaderValue) -> bool {
    let ours = etag.to_str().unwrap_or_default();
    let ours = ours.strip_prefix("W/").unwrap_or(ours);
    tags.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours)
}

/// 64-bit FNV-1a: a validator only has to change when the bytes do.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The UI's files, ready to serve.
pub struct Ui {
    index: File,
    admin: File,
    assets: HashMap<&'static str, File>,
}

impl Ui {
    pub fn new(max_source_bytes: usize) -> Ui {
        let index = INDEX.replace(MAX_SOURCE_BYTES, &max_source_bytes.to_string());
        Ui {
            index: File::new(HTML, Bytes::from(index)),
            admin: File::new(HTML, Bytes::from_static(ADMIN.as_bytes())),
            assets: ASSETS
                .iter()
                .map(|(path, content_type, body)| {
                    (*path, File::new(content_type, Bytes::from_static(body)))
                })
                .collect(),
        }
    }
}

/// The UI's routes, for any router state.
pub fn router<S: Clone + Send + Sync + 'static>(ui: Arc<Ui>) -> Router<S> {
    Router::new()
        .route(UI_ROUTES[0], get(index))
        .route(UI_ROUTES[1], get(admin))
        .route(UI_ROUTES[2], get(asset))
        .with_state(ui)
}

async fn index(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    ui.index.answer(&headers)
}

async fn admin(State(ui): State<Arc<Ui>>, headers: HeaderMap) -> Response {
    ui.admin.answer(&headers)
}

async fn asset(
    State(ui): State<Arc<Ui>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    ui.assets
        .get(path.as_str())
        .map(|file| file.answer(&headers))
        .ok_or_else(|| ApiError::NotFound {
            code: ErrorCode::NotFound,
            message: "no such asset".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    fn ui_folder() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui")
    }

    async fn get(path: &str, if_none_match: Option<&str>) -> Response {
        let app: Router = router(Arc::new(Ui::new(1234)));
        let mut request = axum::http::Request::get(path);
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        app.oneshot(request.body(Body::empty()).expect("a request"))
            .await
            .expect("an answer")
    }

    async fn body_text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        String::from_utf8(bytes.to_vec()).expect("UTF-8")
    }

    #[test]
    fn every_file_of_the_assets_folder_is_served_and_nothing_else() {
        let mut on_disk: Vec<String> = std::fs::read_dir(ui_folder().join("assets"))
            .expect("the assets folder")
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = ASSETS.iter().map(|(path, ..)| (*path).to_owned()).collect();
        listed.sort();
        assert_eq!(listed, on_disk);
    }

    #[test]
    fn the_pages_have_no_inline_code_and_nothing_from_elsewhere() {
        assert!(INDEX.contains(MAX_SOURCE_BYTES), "the limit placeholder");
        for (name, page) in [("index.html", INDEX), ("admin.html", ADMIN)] {
            let page = page.to_ascii_lowercase();
            for script in page.split("<script").skip(1) {
                let tag = script.split('>').next().unwrap_or_default();
                assert!(
                    tag.contains("src=\"/assets/"),
                    "{name}: inline script: <script{tag}>"
                );
            }
            assert!(!page.contains("<style"), "{name}: inline style element");
            assert!(!page.contains(" style="), "{name}: inline style attribute");
            assert!(
                !page.contains(" onclick=")
                    && !page.contains(" onload=")
                    && !page.contains(" onsubmit="),
                "{name}: inline handler"
            );
        }
        for (path, _, body) in ASSETS.iter().copied().chain([
            ("index.html", HTML, INDEX.as_bytes()),
            ("admin.html", HTML, ADMIN.as_bytes()),
        ]) {
            // An SVG names its XML namespace with a URL; nothing is fetched from it.
            let text = String::from_utf8_lossy(body).replace("http://www.w3.org/2000/svg", "");
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{path} names another host"
            );
            assert!(!text.contains("eval("), "{path} uses eval");
        }
    }

    #[tokio::test]
    async fn the_page_carries_the_limit_a_policy_and_a_validator() {
        let response = get("/", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers[header::CONTENT_TYPE], HTML);
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        let etag = headers[header::ETAG].to_str().expect("ASCII").to_owned();
        let page = body_text(response).await;
        assert!(page.contains("content=\"1234\""), "{page}");
        assert!(!page.contains("{{"));

        for tag in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {etag}"),
            "*".into(),
        ] {
            let again = get("/", Some(&tag)).await;
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{tag}");
            assert_eq!(again.headers()[header::ETAG], etag.as_str());
            assert!(body_text(again).await.is_empty());
        }
        assert_eq!(get("/", Some("\"other\"")).await.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn the_admin_page_is_served_with_the_same_policy() {
        let response = get("/admin", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers[header::CONTENT_TYPE], HTML);
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        let page = body_text(response).await;
        assert!(page.contains("src=\"/assets/admin.js\""), "{page}");
        let etag = headers[header::ETAG].to_str().expect("ASCII").to_owned();
        let again = get("/admin", Some(&etag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }

    #[tokio::test]
    async fn assets_have_their_types_and_unknown_ones_are_json_404s() {
        for (path, content_type) in [
            ("/assets/app.js", JAVASCRIPT),
            ("/assets/app.css", CSS),
            ("/assets/favicon.svg", SVG),
        ] {
            let response = get(path, None).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], content_type);
            assert!(response.headers().contains_key(header::ETAG));
        }
        for path in [
            "/assets/missing.js",
            "/assets/../Cargo.toml",
            "/assets/%2e%2e/src/lib.rs",
            "/assets/sub/app.js",
        ] {
            let response = get(path, None).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            let body: serde_json::Value =
                serde_json::from_str(&body_text(response).await).expect("JSON");
            assert_eq!(body["error"]["code"], "not_found", "{path}");
        }
    }

    #[test]
    fn weak_comparison() {
        let etag = HeaderValue::from_static("\"abc\"");
        assert!(matches_weakly("\"abc\"", &etag));
        assert!(matches_weakly("W/\"abc\"", &etag));
        assert!(matches_weakly(" \"zzz\" , W/\"abc\"", &etag));
        assert!(!matches_weakly("\"abcd\"", &etag));
        assert!(!matches_weakly("abc", &etag));
        assert!(!matches_weakly("", &etag));
    }
}
