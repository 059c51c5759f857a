//! The `authjs-proxy` binary: config checking, serving with SIGHUP reload, token tooling.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_authjs-proxy");

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Stops the child when the test ends, passed or failed.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `body` as a configuration file, removed when dropped.
fn temp_config(name: &str, body: &str) -> common::ScratchFile {
    common::ScratchFile::new("cli", &format!("{name}.toml"), body)
}

fn config_for(listen: &str, upstream: &str) -> String {
    format!(
        "[server]\nlisten = \"{listen}\"\nworkers = 1\n[proxy]\nbase_url = \"{upstream}\"\nsession_strategy = \"jwt\"\n"
    )
}

#[test]
fn check_config_accepts_the_default_file() {
    let out = run(&["--config", "config/default.toml", "check-config"], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_names_the_field_and_exits_64() {
    let p = temp_config("bad-url", &config_for("127.0.0.1:1", "ftp://example.com"));
    let out = run(&["--config", p.to_str().unwrap(), "check-config"], b"");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid configuration: base_url"), "{err}");
}

/// `check-config` on the base config with `extra` appended to its `[proxy]` section (or a
/// replaced `workers` line); the exit code and stderr.
fn check_with(name: &str, body: &str) -> (Option<i32>, String) {
    let p = temp_config(name, body);
    let out = run(&["--config", p.to_str().unwrap(), "check-config"], b"");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_refuses_values_that_cannot_work() {
    let base = config_for("127.0.0.1:1", "http://127.0.0.1:2");
    let cases = [
        (
            "workers",
            base.replace("workers = 1", "workers = 1000000"),
            "server.workers",
        ),
        (
            "fraction",
            format!("{base}max_body_bytes = 1.5\n"),
            "proxy.max_body_bytes",
        ),
        (
            "expect-header",
            format!("{base}[proxy.headers]\nExpect = \"100-continue\"\n"),
            "headers.Expect",
        ),
        (
            "length-header",
            format!("{base}[proxy.headers]\nContent-Length = \"3\"\n"),
            "headers.Content-Length",
        ),
        (
            "hop-header",
            format!("{base}[proxy.headers]\nTransfer-Encoding = \"chunked\"\n"),
            "headers.Transfer-Encoding",
        ),
        (
            "blank-secret",
            format!("{base}secret = \"   \"\n"),
            "secret",
        ),
        (
            "public-url-path",
            format!("{base}public_url = \"https://app.example.com/x\"\n"),
            "public_url",
        ),
    ];
    for (name, body, field) in cases {
        let (code, err) = check_with(name, &body);
        assert_eq!(code, Some(64), "{name}: {err}");
        assert!(
            err.contains(&format!("invalid configuration: {field}")),
            "{name}: {err}"
        );
    }
}

#[test]
fn serving_an_invalid_config_exits_64_before_binding() {
    let port = closed_port();
    let p = temp_config(
        "bad-strategy",
        &format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[proxy]\nbase_url = \"http://127.0.0.1:1\"\n"
        ),
    );
    let out = run(&["--config", p.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("session_strategy"));
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the port was never bound"
    );
}

#[test]
fn missing_config_file_exits_64() {
    let out = run(
        &["--config", "/nonexistent/authjs-proxy.toml", "check-config"],
        b"",
    );
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn token_decode_prints_the_claims_of_an_authjs_token() {
    let fixtures: serde_json::Value = serde_json::from_str(include_str!(
        "../crates/authjs-token/tests/vectors/authjs-tokens.json"
    ))
    .unwrap();
    let f = &fixtures[0];
    let out = run(
        &["token", "decode", "--secret", f["secret"].as_str().unwrap()],
        f["token"].as_str().unwrap().as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims, f["claims"]);
}

#[test]
fn token_decode_exits_1_with_the_reason_for_any_bad_input() {
    let inputs: [&[u8]; 5] = [
        b"",
        b"garbage",
        b"a.b.c.d.e",
        &[0xff, 0xfe, 0x00, 0x80],
        &[b'A'; 300_000],
    ];
    for input in inputs {
        let out = run(&["token", "decode", "--secret", "s"], input);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert!(!err.trim().is_empty());
    }
}

#[test]
fn token_encode_output_decodes_with_the_same_secret_and_salt() {
    let enc = run(
        &[
            "token",
            "encode",
            "--secret",
            "s1",
            "--salt",
            "my.cookie",
            "--max-age",
            "60",
        ],
        br#"{"sub":"u-7","name":"Ada"}"#,
    );
    assert!(enc.status.success());
    let dec = run(
        &["token", "decode", "--secret", "s1", "--salt", "my.cookie"],
        &enc.stdout,
    );
    assert!(
        dec.status.success(),
        "{}",
        String::from_utf8_lossy(&dec.stderr)
    );
    let claims: serde_json::Value = serde_json::from_slice(&dec.stdout).unwrap();
    assert_eq!(claims["sub"], "u-7");
    let wrong = run(&["token", "decode", "--secret", "s1"], &enc.stdout);
    assert_eq!(
        wrong.status.code(),
        Some(1),
        "the default salt is authjs.session-token"
    );
}

#[test]
fn token_encode_refuses_claims_that_are_not_an_object() {
    let out = run(&["token", "encode", "--secret", "s"], b"[1,2]");
    assert_eq!(out.status.code(), Some(1));
}

async fn get_status(url: &str) -> Option<u16> {
    client()
        .get(url)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Polls `url` (at most 100 times, 50 ms apart) until it answers 200.
async fn answers_200(url: &str) -> bool {
    for _ in 0..100 {
        if get_status(url).await == Some(200) {
            return true;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[actix_web::test]
async fn service_forwards_and_reloads_its_file_on_sighup() {
    let first = FakeUpstream::ok();
    let second = FakeUpstream::ok();
    let port = closed_port();
    let listen = format!("127.0.0.1:{port}");
    let path = temp_config("reload", &config_for(&listen, &first.url()));
    let mut running = Running(
        Command::new(BIN)
            .args(["--config", path.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let child = &mut running.0;
    let base = format!("http://{listen}");
    assert!(
        answers_200(&format!("{base}/healthz")).await,
        "the service did not come up"
    );
    assert_eq!(
        get_status(&format!("{base}/api/auth/csrf")).await,
        Some(200)
    );
    assert_eq!(first.count(), 1);

    let hup = |pid: u32| {
        Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
    };
    std::fs::write(&path, config_for(&listen, &second.url())).unwrap();
    hup(child.id());
    let mut moved = false;
    for _ in 0..100 {
        get_status(&format!("{base}/api/auth/csrf")).await;
        if second.count() > 0 {
            moved = true;
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(moved, "the reloaded upstream never received traffic");

    std::fs::write(&path, config_for(&listen, "not a url")).unwrap();
    hup(child.id());
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let before = second.count();
    assert_eq!(
        get_status(&format!("{base}/api/auth/csrf")).await,
        Some(200)
    );
    assert_eq!(
        second.count(),
        before + 1,
        "an invalid file keeps the running configuration"
    );

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    assert!(
        exited.is_some_and(|s| s.success()),
        "SIGTERM shuts the service down cleanly: {exited:?}"
    );
}

#[actix_web::test]
async fn demo_serves_a_working_sign_in_flow_and_prints_how() {
    use std::io::{BufRead, BufReader};
    let port = closed_port();
    let mut running = Running(
        Command::new(BIN)
            .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = running.0.stdout.take().unwrap();
    let printed = actix_rt::task::spawn_blocking(move || {
        let mut text = String::new();
        for line in BufReader::new(stdout).lines().take(40) {
            let line = line.unwrap();
            text.push_str(&line);
            text.push('\n');
            if line.contains("Ctrl-C stops the demo") {
                break;
            }
        }
        text
    })
    .await
    .unwrap();
    assert!(
        printed.contains("/api/auth/callback/credentials"),
        "{printed}"
    );
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        answers_200(&format!("{base}/api/auth/providers")).await,
        "the demo proxy did not answer"
    );

    let c = client();
    let mut res = c.get(format!("{base}/api/auth/csrf")).send().await.unwrap();
    let cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let csrf: serde_json::Value = serde_json::from_slice(&res.body().await.unwrap()).unwrap();
    let form = format!(
        "csrfToken={}&email=ada%40example.com&password=analytical&callbackUrl=%2F",
        csrf["csrfToken"].as_str().unwrap()
    );
    let res = c
        .post(format!("{base}/api/auth/callback/credentials"))
        .insert_header(("cookie", cookies.join("; ")))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .send_body(form)
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let session_cookie = res
        .headers()
        .get_all("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("authjs.session-token="))
        .expect("the demo sets a session cookie");
    let mut who = c
        .get(format!("{base}/whoami"))
        .insert_header(("cookie", session_cookie))
        .send()
        .await
        .unwrap();
    let who: serde_json::Value = serde_json::from_slice(&who.body().await.unwrap()).unwrap();
    assert_eq!(who["get_server_session"]["user"]["name"], "Ada Lovelace");
    assert_eq!(who["get_token"]["sub"], "u-ada");
}

#[actix_web::test]
async fn reload_that_changes_the_listen_address_says_it_needs_a_restart() {
    let up = FakeUpstream::ok();
    let listen = format!("127.0.0.1:{}", closed_port());
    let path = temp_config("relisten", &config_for(&listen, &up.url()));
    let mut running = Running(
        Command::new(BIN)
            .args(["--config", path.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut running.0;
    assert!(answers_200(&format!("http://{listen}/healthz")).await);
    let elsewhere = format!("127.0.0.1:{}", closed_port());
    std::fs::write(&path, config_for(&elsewhere, &up.url())).unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    assert!(
        answers_200(&format!("http://{listen}/healthz")).await,
        "still serving on the old address"
    );
    let stderr = stop_and_read_stderr(child);
    assert!(stderr.contains("change only on restart"), "{stderr}");
}

#[test]
fn a_listen_address_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let path = temp_config("in-use", &config_for(&listen, "http://127.0.0.1:4001"));
    let out = run(&["--config", path.to_str().unwrap()], b"");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&listen) && stderr.contains("in use"),
        "{stderr}"
    );
}

/// Runs the binary on `body` until `probe` is done, then stops it; answers its stderr.
async fn stderr_of(name: &str, listen: &str, body: &str, probe: impl AsyncFnOnce()) -> String {
    let path = temp_config(name, body);
    let mut running = Running(
        Command::new(BIN)
            .args(["--config", path.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert!(answers_200(&format!("http://{listen}/healthz")).await);
    probe().await;
    stop_and_read_stderr(&mut running.0)
}

/// SIGTERM to `child`, then everything it wrote to its (piped) stderr.
fn stop_and_read_stderr(child: &mut std::process::Child) -> String {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

#[actix_web::test]
async fn an_unreachable_upstream_is_logged_with_its_address_and_the_os_error() {
    let upstream = format!("127.0.0.1:{}", closed_port());
    let listen = format!("127.0.0.1:{}", closed_port());
    let body = config_for(&listen, &format!("http://{upstream}"));
    let stderr = stderr_of("unreachable-log", &listen, &body, async || {
        assert_eq!(
            get_status(&format!("http://{listen}/api/auth/session")).await,
            Some(502)
        );
    })
    .await;
    let line = stderr
        .lines()
        .find(|l| l.contains("upstream request failed"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains(&upstream), "{line}");
    assert!(line.to_lowercase().contains("refused"), "{line}");
}

#[actix_web::test]
async fn a_forward_auth_503_from_a_wrong_base_path_is_explained_at_warn() {
    let up = FakeUpstream::start(|_, _| Reply::status(404));
    let listen = format!("127.0.0.1:{}", closed_port());
    let body = format!(
        "{}\n[forward_auth]\nenabled = true\n",
        config_for(&listen, &up.url()).replace("\"jwt\"", "\"database\"")
    );
    let stderr = stderr_of("wrong-base-log", &listen, &body, async || {
        let res = awc::Client::new()
            .get(format!("http://{listen}/_authjs/verify"))
            .insert_header(("cookie", "authjs.session-token=abc"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
    })
    .await;
    let line = stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains("404"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains("target_base_path"), "{line}");
}

#[test]
fn check_config_warns_that_nginx_can_not_carry_the_redirect_mode() {
    let body = format!(
        "{}\n[forward_auth]\nenabled = true\non_unauthenticated = \"redirect\"\n",
        config_for("127.0.0.1:3999", "http://127.0.0.1:4001")
    );
    let path = temp_config("redirect-mode", &body);
    let out = run(&["--config", path.to_str().unwrap(), "check-config"], b"");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nginx") && stderr.contains("signin_path"),
        "{stderr}"
    );
}

#[test]
fn check_config_warns_about_a_variable_that_is_never_read() {
    let path = temp_config(
        "stray-env",
        &config_for("127.0.0.1:3999", "http://127.0.0.1:4001"),
    );
    let out = Command::new(BIN)
        .args(["--config", path.to_str().unwrap(), "check-config"])
        .env("AUTHJS_PROXY_PROXY__BASE_URL", "http://elsewhere:1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AUTHJS_PROXY_PROXY__BASE_URL"), "{stderr}");
}

#[actix_web::test]
async fn check_config_connect_reports_an_upstream_that_answers() {
    let up = FakeUpstream::ok();
    let path = temp_config("connect-ok", &config_for("127.0.0.1:3999", &up.url()));
    let config = path.to_str().unwrap().to_owned();
    // The fake upstream answers on this thread: wait for the binary elsewhere.
    let out = actix_rt::task::spawn_blocking(move || {
        run(&["--config", &config, "check-config", "--connect"], b"")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "upstream {}/api/auth/providers: answered 200",
            up.url()
        )),
        "{stdout}"
    );
    assert_eq!(up.last().path_and_query, "/api/auth/providers");
}

#[test]
fn the_token_tool_reads_its_secret_from_a_file_or_auth_secret() {
    let secret = temp_config("token-secret", "from-a-file\nolder\n");
    let encode = |args: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(["token", "encode"]).args(args);
        cmd.env_remove("AUTH_SECRET");
        if let Some(s) = env {
            cmd.env("AUTH_SECRET", s);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(br#"{"sub":"u"}"#)
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let from_env = encode(&[], Some("from-the-env"));
    assert!(from_env.status.success());
    let token = String::from_utf8(from_env.stdout).unwrap();
    // Decoded with a file listing a newer secret first, then the env's: rotation.
    let both = temp_config("token-both", "from-a-file\nfrom-the-env\n");
    let out = run(
        &["token", "decode", "--secret-file", both.to_str().unwrap()],
        token.trim().as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_file = encode(&["--secret-file", secret.to_str().unwrap()], None);
    assert!(from_file.status.success());
    let none = encode(&[], None);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("--secret-file"));
}

#[test]
fn help_names_the_environment_the_signals_and_the_exit_codes() {
    let out = run(&["--help"], b"");
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["AUTHJS_PROXY__", "AUTH_SECRET", "SIGHUP", "SIGTERM", "64"] {
        assert!(help.contains(word), "{word} missing from --help:\n{help}");
    }
}

#[test]
fn help_of_commands_that_read_no_file_offers_no_file_flags() {
    for args in [&["demo", "--help"][..], &["token", "decode", "--help"][..]] {
        let out = run(args, b"");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        for flag in ["--config", "--allow-insecure"] {
            assert!(!help.contains(flag), "{args:?} offers {flag}:\n{help}");
        }
    }
    for args in [&["check-config", "--help"][..], &["serve", "--help"][..]] {
        let help = String::from_utf8_lossy(&run(args, b"").stdout).into_owned();
        assert!(help.contains("--config"), "{args:?}:\n{help}");
    }
}

#[test]
fn a_file_flag_given_to_a_command_that_reads_no_file_is_refused() {
    let out = run(&["--config", "x.toml", "token", "decode"], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--config") && err.contains("token"), "{err}");
}

#[test]
fn the_config_flag_works_after_the_command_name_too() {
    let out = run(
        &["check-config", "--config", "/nonexistent/after.toml"],
        b"",
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/after.toml"));
}

#[test]
fn the_demo_on_a_taken_port_says_how_to_pick_another() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let out = run(&["demo", "--listen", &listen], b"");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--listen"), "{stderr}");
}

#[test]
fn a_configuration_error_is_a_json_line_when_the_file_asks_for_json_logs() {
    let body = format!(
        "{}[log]\nformat = \"json\"\n",
        config_for("127.0.0.1:1", "ftp://example.com")
    );
    let p = temp_config("json-error", &body);
    let out = run(&["--config", p.to_str().unwrap(), "check-config"], b"");
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line: serde_json::Value = serde_json::from_str(stderr.lines().next().unwrap())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stderr}"));
    assert_eq!(line["level"], "ERROR");
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid configuration: base_url"),
        "{line}"
    );
}
