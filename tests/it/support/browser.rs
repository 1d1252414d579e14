//! Headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs): a small client on reqwest,
//! the few commands the console's tests need.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const DRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    profile: std::path::PathBuf,
}

#[derive(Clone)]
pub struct Element(String);

impl Browser {
    /// A fresh headless browser, or `None` (with a note) where Chromium is not
    /// installed; under CI=true its absence fails the test.
    pub async fn start() -> Option<Browser> {
        if !std::path::Path::new(DRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
            assert!(
                std::env::var("CI").map_or(true, |ci| ci != "true"),
                "CI=true but {DRIVER} or {CHROMIUM} is missing: the browser tests cannot run"
            );
            eprintln!("note: chromium and chromium-driver are not installed; the console's browser tests do not run");
            return None;
        }
        let port = super::process::free_address().port();
        // A process group of its own: the driver and every Chromium process it
        // starts end together, even when a failing test skips `quit`.
        let driver = Command::new(DRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready {
                if response.json::<Value>().await.is_ok_and(|status| status["value"]["ready"] == true) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = super::process::temp_dir(&format!("chromium-{port}"));
        // The flags keep Chromium off the network this machine does not have.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1600",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            }}}))
            .send()
            .await
            .expect("a WebDriver session")
            .json()
            .await
            .unwrap();
        let session =
            created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
        Some(Browser { http, session: format!("{base}/session/{session}"), driver, profile })
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Result<Value, String> {
        let request = self.http.request(method.clone(), format!("{}{path}", self.session));
        let request = match method {
            reqwest::Method::GET | reqwest::Method::DELETE => request,
            _ => request.json(&body),
        };
        let answer: Value =
            request.send().await.map_err(|e| e.to_string())?.json().await.map_err(|e| e.to_string())?;
        match answer["value"].get("error") {
            Some(error) => Err(format!("{error}: {}", answer["value"]["message"])),
            None => Ok(answer["value"].clone()),
        }
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", json!({ "url": url })).await.unwrap();
    }

    async fn find(&self, css: &str) -> Result<Element, String> {
        let found = self
            .command(reqwest::Method::POST, "/element", json!({"using": "css selector", "value": css}))
            .await?;
        Ok(Element(found[ELEMENT].as_str().ok_or_else(|| format!("no element id in {found}"))?.to_owned()))
    }

    /// The first element matching `css` once there is one (10 s at most).
    pub async fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.find(css).await {
                Ok(element) => return element,
                Err(error) if Instant::now() > deadline => {
                    panic!("no `{css}` on the page: {error}\n{}", self.page_text().await)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// The text of the first element matching `css` once it contains `wanted`.
    pub async fn wait_for_text(&self, css: &str, wanted: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(element) = self.find(css).await {
                let text = self.text(&element).await;
                if text.contains(wanted) {
                    return text;
                }
                if Instant::now() > deadline {
                    panic!("`{css}` says {text:?}, not {wanted:?}");
                }
            } else if Instant::now() > deadline {
                panic!("no `{css}` on the page:\n{}", self.page_text().await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn text(&self, element: &Element) -> String {
        let path = format!("/element/{}/text", element.0);
        self.command(reqwest::Method::GET, &path, Value::Null)
            .await
            .unwrap_or_default()
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub async fn page_text(&self) -> String {
        match self.find("body").await {
            Ok(body) => self.text(&body).await,
            Err(error) => error,
        }
    }

    /// Clicks the first element matching `css`; found again if the page
    /// redrew it in between (the queue's tables are redrawn after each action).
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let element = self.wait_for(css).await;
            let path = format!("/element/{}/click", element.0);
            match self.command(reqwest::Method::POST, &path, json!({})).await {
                Ok(_) => return,
                Err(error) if error.contains("stale element") && Instant::now() < deadline => continue,
                Err(error) => panic!("clicking `{css}`: {error}"),
            }
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        let path = format!("/element/{}/value", element.0);
        self.command(reqwest::Method::POST, &path, json!({ "text": text })).await.unwrap();
    }

    /// Sets a field's value at once (typing a payload key by key is slow).
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        let script = "arguments[0].value = arguments[1]; \
                      arguments[0].dispatchEvent(new Event('input')); arguments[0].dispatchEvent(new Event('change'));";
        let args = json!([{ ELEMENT: element.0 }, text]);
        self.command(reqwest::Method::POST, "/execute/sync", json!({ "script": script, "args": args }))
            .await
            .unwrap();
    }

    /// Accepts the page's `confirm()`, once it shows.
    pub async fn accept_dialog(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.command(reqwest::Method::POST, "/alert/accept", json!({})).await.is_err() {
            assert!(Instant::now() < deadline, "no dialog to accept");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `script` in the page and answers what it returns.
    pub async fn eval(&self, script: &str) -> Value {
        self.command(reqwest::Method::POST, "/execute/sync", json!({ "script": script, "args": [] }))
            .await
            .unwrap()
    }

    pub async fn quit(self) {
        let _ = self.command(reqwest::Method::DELETE, "", Value::Null).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The session's end closes Chromium (some of its processes leave the
        // driver's group); a test that failed never reached `quit`.
        let _ = Command::new("curl")
            .args(["-s", "-m", "5", "-X", "DELETE", &self.session])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-s", "KILL", "--", &group]).status();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
