//! The `authjs-proxy` binary: parses the command line and calls the library.
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use authjs_proxy::core::token;
use authjs_proxy::options::{FileConfig, LogFormat, SESSION_COOKIE};
use clap::{Args, Parser, Subcommand};

/// The service allocates many small, short-lived buffers per request; mimalloc handles that
/// pattern markedly better than the system allocator (see benches/proxy-load.sh). Built with
/// `no_thp`: mimalloc otherwise asks for transparent huge pages for its arenas, and each 2 MiB
/// page counts whole in the resident size (idle RSS 20 MB with them, 11 MB without; see
/// benches/memory.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The environment, signals and exit codes, for `--help`.
const AFTER_HELP: &str = "\
Environment:
  AUTHJS_PROXY__SECTION__KEY   overrides a file key (AUTHJS_PROXY__PROXY__BASE_URL); lists are
                               comma-separated; other AUTHJS_PROXY* names are reported, never read
  AUTH_SECRET, AUTH_SECRET_1..3  the secret(s) when the file has none (rotation: _3 newest)
  RUST_LOG                     log level (default info)

Signals (serve):
  SIGHUP           reload the configuration file (all or nothing)
  SIGTERM, Ctrl-C  drain (admin.drain_ms), then stop gracefully

Exit codes:
  0   ok
  1   failure (check-config --connect: a dependency did not answer)
  2   invalid command line
  64  invalid configuration, before any port is bound (or refused credentials)";

/// Exit code for a command line clap would refuse (clap's own code).
const EXIT_USAGE: u8 = 2;

/// Exit code for an invalid configuration (EX_CONFIG-style, as linkerd does).
const EXIT_INVALID_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    name = "authjs-proxy",
    version,
    about = "Resilient, fast proxy in front of an Auth.js server",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(flatten)]
    file: FileArgs,
    /// Log format, `text` or `json` (default: the file's `[log] format`, else text).
    #[arg(long, global = true, value_parser = ["text", "json"])]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The flags of the commands that read the configuration file (serving, the default, and
/// `check-config`); given before or after the command's name.
#[derive(Args, Default)]
struct FileArgs {
    /// Configuration file (TOML) [default: config/default.toml].
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Permit `proxy.tls.insecure_skip_verify` for a non-loopback upstream.
    #[arg(long)]
    allow_insecure: bool,
}

impl FileArgs {
    /// These flags, where the command's own ones win over those given before its name.
    fn or(self, before: FileArgs) -> FileArgs {
        FileArgs {
            config: self.config.or(before.config),
            allow_insecure: self.allow_insecure || before.allow_insecure,
        }
    }

    fn path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| PathBuf::from("config/default.toml"))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve (the default).
    Serve(FileArgs),
    /// Validate the configuration and exit (64 when invalid).
    CheckConfig {
        #[command(flatten)]
        file: FileArgs,
        /// Also try the upstream and the Redis level once each and say which answered (exit 1
        /// when one did not, 64 when one refused the configured credentials).
        #[arg(long)]
        connect: bool,
    },
    /// Start an embedded Auth.js-compatible upstream and the proxy in front of it.
    Demo {
        /// Address of the proxy.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: String,
    },
    /// Decode or encode Auth.js session tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Read a token on stdin, print its claims as JSON.
    Decode {
        /// Secret; repeat for rotation, newest first. Visible to `ps` and shell history:
        /// prefer `--secret-file` or `AUTH_SECRET`.
        #[arg(long = "secret")]
        secrets: Vec<String>,
        /// A file holding the secret (one per line for rotation, newest first).
        #[arg(long)]
        secret_file: Option<PathBuf>,
        /// Salt (the session cookie name).
        #[arg(long, default_value = SESSION_COOKIE)]
        salt: String,
    },
    /// Read claims JSON on stdin, print a token `@auth/core`'s decode accepts.
    Encode {
        /// Secret. Visible to `ps` and shell history: prefer `--secret-file` or `AUTH_SECRET`.
        #[arg(long)]
        secret: Option<String>,
        /// A file holding the secret (its first line).
        #[arg(long)]
        secret_file: Option<PathBuf>,
        /// Salt (the session cookie name).
        #[arg(long, default_value = SESSION_COOKIE)]
        salt: String,
        /// Lifetime in seconds (`exp` = now + this must stay within 2^53 - 1).
        #[arg(long, default_value_t = token::DEFAULT_MAX_AGE_SECS)]
        max_age: u64,
    },
}

fn load(
    path: &std::path::Path,
    allow_insecure: bool,
    format: Option<LogFormat>,
) -> Result<FileConfig, ExitCode> {
    FileConfig::load_allowing_insecure(path, allow_insecure).map_err(|e| {
        let message = format!("invalid configuration: {e}");
        // In the format the operator chose (`--log-format`, else the file's `[log] format`).
        if format.or_else(|| FileConfig::log_format_hint(path)) == Some(LogFormat::Json) {
            let now = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            eprintln!(
                "{}",
                serde_json::json!({
                    "timestamp": now,
                    "level": "ERROR",
                    "message": message,
                    "target": "authjs_proxy",
                })
            );
        } else {
            eprintln!("{message}");
        }
        ExitCode::from(EXIT_INVALID_CONFIG)
    })
}

fn read_stdin() -> Result<String, ExitCode> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).map_err(|e| {
        eprintln!("could not read stdin: {e}");
        ExitCode::FAILURE
    })?;
    Ok(s)
}

/// The secrets of a token command: `--secret`, else `--secret-file` (a line each), else
/// `AUTH_SECRET`, newest first.
fn token_secrets(given: Vec<String>, file: Option<PathBuf>) -> Result<Vec<String>, ExitCode> {
    let secrets = if !given.is_empty() {
        given
    } else if let Some(path) = file {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            eprintln!("could not read {}: {e}", path.display());
            ExitCode::FAILURE
        })?;
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    } else {
        std::env::var("AUTH_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .into_iter()
            .collect()
    };
    if secrets.is_empty() {
        eprintln!("no secret: give --secret-file <file>, set AUTH_SECRET, or --secret <secret>");
        return Err(ExitCode::FAILURE);
    }
    Ok(secrets)
}

fn token_command(cmd: TokenCommand) -> Result<(), ExitCode> {
    match cmd {
        TokenCommand::Decode {
            secrets,
            secret_file,
            salt,
        } => {
            let secrets = token_secrets(secrets, secret_file)?;
            let input = read_stdin()?;
            let claims = token::decode_with_secrets(&input, &secrets, &salt).map_err(|e| {
                eprintln!("token does not decode: {e}");
                ExitCode::FAILURE
            })?;
            println!("{}", serde_json::Value::Object(claims.0));
        }
        TokenCommand::Encode {
            secret,
            secret_file,
            salt,
            max_age,
        } => {
            let secret = token_secrets(secret.into_iter().collect(), secret_file)?.remove(0);
            let input = read_stdin()?;
            let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&input)
                .map_err(|e| {
                eprintln!("claims must be a JSON object: {e}");
                ExitCode::FAILURE
            })?;
            let tok =
                token::try_encode_with_secret(&claims, &secret, &salt, max_age).map_err(|e| {
                    eprintln!("token not encoded: {e}");
                    ExitCode::FAILURE
                })?;
            println!("{tok}");
        }
    }
    Ok(())
}

fn run(cli: Cli) -> Result<(), ExitCode> {
    let format = match cli.log_format.as_deref() {
        Some("json") => Some(LogFormat::Json),
        Some(_) => Some(LogFormat::Text),
        None => None,
    };
    let command = cli.command.unwrap_or(Command::Serve(FileArgs::default()));
    if let Command::Demo { .. } | Command::Token(_) = command
        && (cli.file.config.is_some() || cli.file.allow_insecure)
    {
        let name = if let Command::Demo { .. } = command {
            "demo"
        } else {
            "token"
        };
        let flag = if cli.file.config.is_some() {
            "--config"
        } else {
            "--allow-insecure"
        };
        eprintln!("error: {flag} does not apply to `{name}`, which reads no configuration file");
        return Err(ExitCode::from(EXIT_USAGE));
    }
    match command {
        Command::Token(cmd) => {
            authjs_proxy::app::logging::init(format.unwrap_or_default());
            token_command(cmd)
        }
        Command::CheckConfig { file, connect } => {
            authjs_proxy::app::logging::init(format.unwrap_or_default());
            let args = file.or(cli.file);
            let path = args.path();
            let file = load(&path, args.allow_insecure, format)?;
            for notice in &file.notices {
                eprintln!("warning: {notice}");
            }
            println!("configuration ok: {}", path.display());
            if connect {
                check_connections(&file)?;
            }
            Ok(())
        }
        Command::Serve(file) => {
            let args = file.or(cli.file);
            let path = args.path();
            let file = load(&path, args.allow_insecure, format)?;
            let telemetry = authjs_proxy::app::telemetry::start(&file.telemetry).map_err(|e| {
                eprintln!("invalid configuration: {e}");
                ExitCode::from(EXIT_INVALID_CONFIG)
            })?;
            let (telemetry, layer) = telemetry.unzip();
            authjs_proxy::app::logging::init_with(format.unwrap_or(file.log.format), layer);
            let served = actix_web::rt::System::new()
                .block_on(authjs_proxy::app::server::serve(file, Some(path)));
            // Buffered spans go out before the process ends (on SIGTERM too).
            if let Some(telemetry) = telemetry {
                telemetry.shutdown();
            }
            served.map_err(|e| {
                // Through the log, so `[log] format = "json"` gets a JSON line too.
                tracing::error!(error = %e, "authjs-proxy stopped");
                if e.kind() == std::io::ErrorKind::InvalidInput {
                    // A configuration only the start could judge (Redis refused it).
                    ExitCode::from(EXIT_INVALID_CONFIG)
                } else {
                    ExitCode::FAILURE
                }
            })
        }
        Command::Demo { listen } => {
            authjs_proxy::app::logging::init(format.unwrap_or_default());
            actix_web::rt::System::new()
                .block_on(authjs_proxy::app::demo::run(&listen))
                .map_err(|e| {
                    eprintln!("authjs-proxy demo: {e}");
                    if e.kind() == std::io::ErrorKind::AddrInUse {
                        eprintln!("  another port: authjs-proxy demo --listen 127.0.0.1:3100");
                    }
                    ExitCode::FAILURE
                })
        }
    }
}

/// `check-config --connect`: one line per dependency, and the exit code of the worst.
fn check_connections(file: &FileConfig) -> Result<(), ExitCode> {
    use authjs_proxy::app::check::{Reached, connect};
    let found = actix_web::rt::System::new()
        .block_on(connect(file))
        .map_err(|e| {
            eprintln!("invalid configuration: {e}");
            ExitCode::from(EXIT_INVALID_CONFIG)
        })?;
    let mut code = None;
    for (what, reached) in found {
        match reached {
            Reached::Answered(how) => println!("{what}: {how}"),
            Reached::Unreachable(why) => {
                println!("{what}: NOT REACHED: {why}");
                code.get_or_insert(ExitCode::FAILURE);
            }
            Reached::Refused(why) => {
                println!("{what}: REFUSED: {why}");
                code = Some(ExitCode::from(EXIT_INVALID_CONFIG));
            }
        }
    }
    code.map_or(Ok(()), Err)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
