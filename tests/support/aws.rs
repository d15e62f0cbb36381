//! A local AWS for the secret manager tests: moto's standalone server on
//! 127.0.0.1 and the real `aws` CLI, both from the virtual environment that
//! `.ci/aws-emulator.sh` installs and names in `ENVCLOAK_TEST_AWS_VENV`.
//!
//! Shared by `tests/secret_managers.rs` (the library) and
//! `cli/tests/secret_managers.rs` (the tool), which include this file with
//! `#[path]`.
//!
//! - Without `ENVCLOAK_TEST_AWS_VENV`, the tests are skipped with a printed
//!   note on a developer's machine (a plain `cargo test` needs only Rust),
//!   and fail in CI (`CI` set), where `.ci/run` must provide it.
//! - Every `aws` and `moto_server` process gets an explicit environment:
//!   dummy credentials, `us-east-1`, the local endpoint, a temporary `HOME`,
//!   no configuration files and no instance metadata look-up. Nothing
//!   leaves the loopback interface.
//! - Each test starts its own server on a free port and [`Moto`] kills it
//!   when dropped, so tests run in parallel and leave nothing behind.

#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The variable that names the virtual environment.
pub const VENV_VAR: &str = "ENVCLOAK_TEST_AWS_VENV";

/// The recipes of the README, as a user types them.
pub fn secrets_manager_cmd(secret_id: &str) -> String {
    format!(
        "aws secretsmanager get-secret-value --secret-id {secret_id} --query SecretString --output text"
    )
}

/// See [`secrets_manager_cmd`].
pub fn ssm_cmd(name: &str) -> String {
    format!(
        "aws ssm get-parameter --name {name} --with-decryption --query Parameter.Value --output text"
    )
}

/// The virtual environment with `bin/aws` and `bin/moto_server`, or `None`
/// (after a note on stderr, once per test binary) when it is not configured
/// and this is not CI.
pub fn venv() -> Option<&'static Path> {
    static VENV: OnceLock<Option<PathBuf>> = OnceLock::new();
    VENV.get_or_init(|| {
        if let Some(dir) = std::env::var_os(VENV_VAR).filter(|v| !v.is_empty()) {
            let dir = PathBuf::from(dir);
            for tool in ["aws", "moto_server"] {
                assert!(
                    dir.join("bin").join(tool).is_file(),
                    "{VENV_VAR}={} has no bin/{tool}: run `bash .ci/aws-emulator.sh`",
                    dir.display()
                );
            }
            return Some(dir);
        }
        let ci = std::env::var("CI").unwrap_or_default();
        if !ci.is_empty() && ci != "false" && ci != "0" {
            panic!(
                "{VENV_VAR} is not set, and CI must run the secret manager tests: \
                 .ci/run sets it to the virtual environment that .ci/aws-emulator.sh installs \
                 (moto's server and the aws CLI)"
            );
        }
        // Straight to the stderr handle: the test harness captures
        // `eprintln!` of passing tests, and this note must be seen.
        let _ = writeln!(
            std::io::stderr().lock(),
            "\n==================================================================\n\
             SKIPPING the AWS secret manager tests: {VENV_VAR} is not set.\n\
             Run them with:\n\
             \x20   {VENV_VAR}=\"$(bash .ci/aws-emulator.sh)\" cargo test --test secret_managers\n\
             ==================================================================\n"
        );
        None
    })
    .as_deref()
}

/// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// An endpoint on 127.0.0.1 that refuses connections: port 1 (tcpmux,
/// unused), outside the range that [`free_port`] and the servers of
/// tests running alongside draw from, so none of them can take it.
pub fn closed_endpoint() -> String {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(),
        "something listens on 127.0.0.1:1; the unreachable-endpoint test needs it closed"
    );
    "http://127.0.0.1:1".to_owned()
}

/// A `PATH` with the virtual environment's `bin` first, so that a recipe's
/// bare `aws` is the real CLI installed there.
pub fn path_with(venv: &Path) -> std::ffi::OsString {
    let mut dirs = vec![venv.join("bin")];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).expect("PATH")
}

/// What the `aws` CLI needs to talk to `endpoint` and nothing else: dummy
/// credentials, a region, no configuration files, no instance metadata
/// service, one attempt per call.
pub fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_MAX_ATTEMPTS", "1".to_owned()),
    ]
}

/// A moto server on 127.0.0.1, killed when dropped.
pub struct Moto {
    child: Child,
    venv: PathBuf,
    /// Its `HOME`, and the `HOME` of the `aws` commands run through it.
    home: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    port: u16,
}

impl Moto {
    /// Starts the server on a free port and waits (a bounded poll) until
    /// it answers. Another process may take the port between the moment
    /// it was found free and the server's bind: then the server exits and
    /// it starts again on another port (three tries).
    pub fn start(venv: &Path) -> Moto {
        for _ in 0..3 {
            let mut moto = Moto::spawn(venv);
            match moto.wait_ready() {
                Ok(()) => return moto,
                // Dropped: the next try has a new port and a new HOME.
                Err(log) if log.contains("Address already in use") => {}
                Err(log) => panic!("moto_server did not start:\n{log}"),
            }
        }
        panic!("moto_server lost the race for a free port three times");
    }

    fn spawn(venv: &Path) -> Moto {
        let home = tempfile::Builder::new()
            .prefix("envcloak-moto-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let log = std::fs::File::create(home.path().join("moto.log")).expect("moto.log");
        let child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env_clear()
            .env("PATH", path_with(venv))
            .env("HOME", home.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("moto.log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto_server: {e}"));
        Moto {
            child,
            venv: venv.to_path_buf(),
            home,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        }
    }

    /// Polls `GET /moto-api/` until it answers 200: at most 60 s, which
    /// is far above the half second it takes on an idle machine. The
    /// server's log when it exits first.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("moto_server status") {
                return Err(format!("moto_server exited ({status}):\n{}", self.log()));
            }
            if self
                .http("GET", "/moto-api/", "")
                .is_some_and(|r| r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200"))
            {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on {} within 60 s:\n{}",
                self.endpoint,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One plain HTTP/1.0 request to the server; its whole response, or
    /// `None` when it cannot be reached.
    fn http(&self, method: &str, path: &str, body: &str) -> Option<String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Type: text/plain\r\nContent-Length: {len}\r\n\r\n{body}",
            port = self.port,
            len = body.len()
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("moto.log")).unwrap_or_default()
    }

    /// The `HOME` given to the server and to [`Moto::aws`].
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Runs the real `aws` CLI against this server (as the `testing` user,
    /// in directory `dir`) and returns its standard output; it must
    /// succeed.
    #[track_caller]
    pub fn aws(&self, dir: &Path, args: &[&str]) -> String {
        self.aws_as(dir, None, args)
    }

    /// [`Moto::aws`] with other credentials (`(access key id, secret)`).
    #[track_caller]
    pub fn aws_as(&self, dir: &Path, creds: Option<(&str, &str)>, args: &[&str]) -> String {
        let mut cmd = Command::new(self.venv.join("bin/aws"));
        cmd.args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", path_with(&self.venv))
            .env("HOME", self.home.path())
            .envs(aws_env(&self.endpoint))
            .stdin(Stdio::null());
        if let Some((id, secret)) = creds {
            cmd.env("AWS_ACCESS_KEY_ID", id)
                .env("AWS_SECRET_ACCESS_KEY", secret);
        }
        let out = cmd.output().expect("run aws");
        assert!(
            out.status.success(),
            "`aws {}` failed ({}):\n{}",
            args.first().copied().unwrap_or_default(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("aws output is UTF-8")
    }

    /// From now on the server checks every call's signature and the
    /// caller's IAM policies (moto's `/moto-api/reset-auth`: the number of
    /// calls still let through without authentication becomes 0), as AWS
    /// does. Only users created with IAM and their access keys get in.
    pub fn enforce_iam(&self) {
        let response = self
            .http("POST", "/moto-api/reset-auth", "0")
            .expect("moto_server answers");
        assert!(
            response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"),
            "moto did not switch IAM checks on:\n{response}"
        );
    }

    /// An IAM user whose only permissions are `actions` (on every
    /// resource), and an access key for it: `(access key id, secret)`.
    pub fn iam_user(&self, dir: &Path, name: &str, actions: &[&str]) -> (String, String) {
        self.aws(dir, &["iam", "create-user", "--user-name", name]);
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{ "Effect": "Allow", "Action": actions, "Resource": "*" }],
        })
        .to_string();
        self.aws(
            dir,
            &[
                "iam",
                "put-user-policy",
                "--user-name",
                name,
                "--policy-name",
                "only-these",
                "--policy-document",
                &policy,
            ],
        );
        let out = self.aws(
            dir,
            &[
                "iam",
                "create-access-key",
                "--user-name",
                name,
                "--query",
                "AccessKey.[AccessKeyId,SecretAccessKey]",
                "--output",
                "text",
            ],
        );
        let mut fields = out.split_whitespace();
        let id = fields.next().expect("access key id").to_owned();
        let secret = fields.next().expect("secret access key").to_owned();
        (id, secret)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
