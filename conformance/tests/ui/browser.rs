//! The admin UI in a real browser: Debian's `chromium`, headless, driven by `chromedriver` over WebDriver
//! (fantoccini) against a real `doq` process. The test creates a queue through the API and sees it appear,
//! enqueues through the form, peeks without dequeuing (the stats say so), purges, opens the servers,
//! cluster and docs pages, and asserts the browser logged no errors. Screenshots go to
//! `$CARGO_TARGET_TMPDIR/ui-screenshots/`. Without `chromium` or `chromedriver` the test fails and says
//! what to install: CI installs both (`.ci/run`).
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::{free_port, Doq, Proc};

/// How long any one thing may take to show up in the page.
const WAIT: Duration = Duration::from_secs(15);

/// `name` on `PATH`, or the path in `env` if set.
fn program(env: &str, name: &str, package: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: the admin UI test needs Debian's `{package}` \
                 (apt-get install chromium chromium-driver), or {env} set to the program's path"
            )
        })
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}

/// A headless Chromium session behind its own chromedriver.
struct Browser {
    client: Client,
    driver_url: String,
    session: String,
    _driver: Proc,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Self {
        let chromium = program("DOQ_CHROMIUM", "chromium", "chromium");
        let chromedriver = program("DOQ_CHROMEDRIVER", "chromedriver", "chromium-driver");
        let profile = tempfile::tempdir().expect("profile dir");
        let port = free_port();
        let driver = Proc::spawn(
            &chromedriver.display().to_string(),
            &[format!("--port={port}")],
            profile.path().join("chromedriver.log"),
            profile.path(),
        );
        let driver_url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = http.get(format!("{driver_url}/status")).send().await {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start:\n{}",
                driver.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", "--hide-scrollbars",
                         format!("--user-data-dir={}", profile.path().join("profile").display())],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start a Chromium session: {e}\nchromedriver says:\n{}",
                    driver.output()
                )
            });
        let session = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        Self {
            client,
            driver_url,
            session,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Waits for an element matching `css`.
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` in the page after {WAIT:?}: {e}"))
    }

    /// Waits until the text of `css` satisfies `ok`; returns it.
    async fn text_until(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = el.text().await {
                    if ok(&t) {
                        return t;
                    }
                    last = t;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("`{css}` never showed the expected text; last: {last:?}")
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(screenshots().join(name), png).expect("write the screenshot");
    }

    /// The browser's log since the last call (chromedriver's `se/log`): console messages, uncaught
    /// exceptions and failed resource loads.
    async fn log(&self) -> Vec<Value> {
        let res = reqwest::Client::new()
            .post(format!(
                "{}/session/{}/se/log",
                self.driver_url, self.session
            ))
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .expect("ask chromedriver for the browser log");
        let body: Value = res.json().await.expect("the log is JSON");
        body["value"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("unexpected browser log answer: {body}"))
    }

    /// Fails on any error the browser logged, and on the UI's own error banner.
    async fn assert_no_errors(&self, page: &str, allowed: &[&str]) {
        let errors: Vec<String> = self
            .log()
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE" || e["level"] == "ERROR")
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .filter(|m| !allowed.iter().any(|a| m.contains(a)))
            .collect();
        assert!(
            errors.is_empty(),
            "the browser logged errors on {page}: {errors:#?}"
        );
        let fatal = self
            .client
            .execute("const f = document.getElementById('fatal'); return f && !f.hidden ? f.textContent : null;", vec![])
            .await
            .expect("read the error banner");
        assert!(fatal.is_null(), "the UI shows an error on {page}: {fatal}");
    }
}

async fn api(doq: &Doq, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new().request(method, doq.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("API request");
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

#[tokio::test]
async fn the_admin_ui_runs_doq_in_chromium() {
    let doq = Doq::start(&[]).await;
    let browser = Browser::start().await;
    let b = &browser;
    use reqwest::Method;

    // A queue created through the API appears in the list (refreshed every second).
    b.client.goto(&doq.url("/")).await.expect("open /");
    b.find("#queues").await;
    let create = json!({"name":"emails","type":"delayed","settings":{}});
    api(&doq, Method::POST, "/API/v1/queues", Some(create)).await;
    let fair = json!({"name":"transcode","type":"fair","settings":{"strategy":"round_robin","max_unacked":4}});
    api(&doq, Method::POST, "/API/v1/queues", Some(fair)).await;
    b.find(r#"tr[data-queue="emails"]"#).await;
    // Some traffic, so rates and sparklines have something to show.
    for i in 0..12 {
        let m = json!({"priority": 0, "content": format!("job {i}"), "group": format!("user-{}", i % 3)});
        api(
            &doq,
            Method::POST,
            "/API/v1/queues/transcode/messages",
            Some(m),
        )
        .await;
    }
    for _ in 0..5 {
        api(
            &doq,
            Method::GET,
            "/API/v1/queues/transcode/messages?ack=true",
            None,
        )
        .await;
    }
    b.text_until(r#"tr[data-queue="transcode"] [data-field="total"]"#, |t| {
        t == "7"
    })
    .await;
    b.screenshot("queues.png").await;
    b.assert_no_errors("the queue list", &[]).await;

    // The queue page; enqueue through the form.
    b.find(r#"tr[data-queue="emails"] a"#)
        .await
        .click()
        .await
        .expect("open emails");
    b.find("#enqueue-form").await;
    b.find("#enqueue-content")
        .await
        .send_keys("hello from the browser")
        .await
        .expect("type content");
    b.find("#enqueue-metadata")
        .await
        .send_keys(r#"{"source":"ui-test"}"#)
        .await
        .expect("type metadata");
    b.find("#enqueue-submit")
        .await
        .click()
        .await
        .expect("enqueue");
    // Peek shows it…
    b.text_until("#peek-rows", |t| t.contains("hello from the browser"))
        .await;
    // …and it is still there, not leased: peek did not dequeue.
    b.text_until("#stat-ready", |t| t == "1").await;
    let info = api(&doq, Method::GET, "/API/v1/queues/emails", None).await;
    assert_eq!(
        (&info["ready"], &info["unacked"], &info["total"]),
        (&json!(1), &json!(0), &json!(1)),
        "after enqueue and peek: {info}"
    );
    b.find("#peek-refresh")
        .await
        .click()
        .await
        .expect("peek again");
    b.text_until("#peek-rows", |t| t.contains("ready")).await;
    let info = api(&doq, Method::GET, "/API/v1/queues/emails", None).await;
    assert_eq!(info["unacked"], 0, "peek leased a message: {info}");
    b.screenshot("queue.png").await;
    b.assert_no_errors("the queue page", &[]).await;

    // Purge (confirmed in the browser's dialog).
    b.find("#queue-purge").await.click().await.expect("purge");
    b.client.accept_alert().await.expect("confirm the purge");
    b.text_until("#toast", |t| t.contains("Purged 1")).await;
    b.text_until("#stat-total", |t| t == "0").await;
    let info = api(&doq, Method::GET, "/API/v1/queues/emails", None).await;
    assert_eq!(info["total"], 0, "after purge: {info}");
    b.find("#peek-empty").await;

    // The fair queue's page shows its rates.
    b.client
        .goto(&doq.url("/queues/transcode"))
        .await
        .expect("deep link");
    b.text_until("#stat-total", |t| t == "7").await;
    tokio::time::sleep(Duration::from_secs(3)).await; // a few sparkline samples
    b.screenshot("queue-fair.png").await;

    // Servers and cluster pages.
    b.find("#nav-servers").await.click().await.expect("servers");
    b.text_until("#server-rows", |t| {
        t.contains("node-0") && t.contains("leader")
    })
    .await;
    b.screenshot("servers.png").await;
    b.find("#nav-cluster").await.click().await.expect("cluster");
    b.text_until(r#"#cluster-status [data-field="state"]"#, |t| t == "Leader")
        .await;
    b.screenshot("cluster.png").await;
    b.assert_no_errors("the servers and cluster pages", &[])
        .await;

    // The interactive API docs, from the binary alone.
    b.client.goto(&doq.url("/docs")).await.expect("open /docs");
    b.find(".opblock").await;
    b.screenshot("docs.png").await;
    let ops = b
        .client
        .find_all(Locator::Css(".opblock"))
        .await
        .expect("operations");
    assert!(ops.len() >= 28, "/docs shows {} operations", ops.len());
    b.assert_no_errors("/docs", &[]).await;

    // Deleting through the list (confirmed) removes the row.
    b.client.goto(&doq.url("/")).await.expect("open /");
    b.find(r#"button[data-action="delete"][data-queue="emails"]"#)
        .await
        .click()
        .await
        .expect("delete");
    b.client.accept_alert().await.expect("confirm the delete");
    let deadline = Instant::now() + WAIT;
    while b
        .client
        .find(Locator::Css(r#"tr[data-queue="emails"]"#))
        .await
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "the deleted queue is still listed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.assert_no_errors("the queue list after delete", &[]).await;
    browser
        .client
        .clone()
        .close()
        .await
        .expect("close the session");
}

#[tokio::test]
async fn with_auth_on_the_ui_asks_for_the_token() {
    let doq = Doq::start(&["--auth.token", "open-sesame"]).await;
    let browser = Browser::start().await;
    let b = &browser;
    b.client.goto(&doq.url("/")).await.expect("open /");
    b.find("#token-form").await;
    b.screenshot("token.png").await;
    b.find("#token")
        .await
        .send_keys("open-sesame")
        .await
        .expect("type token");
    b.find(r#"#token-form button[type="submit"]"#)
        .await
        .click()
        .await
        .expect("submit token");
    b.find("#queues").await;
    // The first, tokenless request was refused with 401: that one error is expected.
    b.assert_no_errors("the token prompt", &["401"]).await;
    browser
        .client
        .clone()
        .close()
        .await
        .expect("close the session");
}
