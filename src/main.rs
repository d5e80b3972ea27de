//! streamprobe's entry point: parse the command line, pick the command.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use streamprobe::cli::{Cli, Command};
use streamprobe::secrets::Secrets;
use streamprobe::{logging, pipeline, probe, tui};

/// Stack size of the runtime's threads, bytes.
const STACK_BYTES: usize = 512 * 1024 * 1024;

fn main() -> ExitCode {
    // Values of Tyk references and profile secrets, filled by config
    // loading and hidden by every log line and printed message (one list
    // for the whole process).
    let secrets = Secrets::new();
    // a profile's options go in as flags the command line did not give
    let args = match streamprobe::profile::expand(std::env::args_os().collect(), &secrets) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("streamprobe: {}", secrets.redact(&format!("{e:#}")));
            return ExitCode::from(2);
        }
    };
    let given = std::env::args_os().count();
    let from_profile = args.len() != given;
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // `probe --json` always prints one JSON object, even when the
            // command line itself is wrong. A value may come from a profile
            // (and be a secret): the text is redacted, and says where the
            // options came from.
            let mut text = secrets.redact(&e.render().to_string()).into_owned();
            if from_profile {
                let all: Vec<String> = std::env::args().collect();
                let name = streamprobe::profile::selected(&all).unwrap_or_default();
                text.push_str(&format!(
                    "note: options from profile {name} ({}) are part of this command line\n",
                    streamprobe::profile::path().display()
                ));
            }
            let args: Vec<String> = std::env::args().collect();
            let probe_json =
                args.iter().any(|a| a == "probe") && args.iter().any(|a| a == "--json");
            if probe_json {
                let message = text.lines().next().unwrap_or("").to_owned();
                println!(
                    "{}",
                    serde_json::json!({"passed": false, "error": {"kind": "config", "message": message.trim_start_matches("error: ")}})
                );
            }
            eprint!("{text}");
            return ExitCode::from(2);
        }
        // help and version print as usual
        Err(e) => e.exit(),
    };
    // Large (virtual, reserved on demand) thread stacks: fe2o3-amqp decodes
    // AMQP values recursively, and a hostile message nested thousands of
    // levels deep would otherwise overflow a default 2 MiB stack and abort.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(STACK_BYTES)
        .max_blocking_threads(32)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("streamprobe: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match cli.command {
        None => {
            if let Err(e) = cli.ui.measure.body_options() {
                eprintln!("streamprobe: {e}");
                return ExitCode::from(2);
            }
            if let Err(e) = streamprobe::links::Plan::from_args(&cli.ui.endpoints, &secrets) {
                eprintln!("streamprobe: {e:#}");
                return ExitCode::from(2);
            }
            if let Some(p) = &cli.ui.message_file {
                if let Err(e) = std::fs::read_to_string(p) {
                    eprintln!("streamprobe: --message-file {}: {e}", p.display());
                    return ExitCode::from(2);
                }
            }
            {
                use std::io::IsTerminal;
                if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
                    eprintln!(
                        "streamprobe needs a terminal; for CI use `streamprobe probe` (see --help)"
                    );
                    return ExitCode::from(2);
                }
            }
            let path = cli
                .ui
                .log_file
                .clone()
                .unwrap_or_else(logging::default_log_file);
            match logging::to_file(&path, &secrets) {
                Ok(_guard) => match rt.block_on(tui::run(cli.ui, &secrets)) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("streamprobe: {e:#}");
                        ExitCode::FAILURE
                    }
                },
                Err(e) => {
                    eprintln!("streamprobe: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Some(Command::Probe(args)) => {
            let _guard = match &args.log_file {
                Some(path) => match logging::to_file(path, &secrets) {
                    Ok(g) => Some(g),
                    Err(e) => {
                        eprintln!("streamprobe probe: {e:#}");
                        return ExitCode::from(2);
                    }
                },
                None => None,
            };
            rt.block_on(probe::main(args, &secrets))
        }
        Some(Command::Lint {
            files,
            api_config,
            tyk_version,
        }) => rt.block_on(pipeline::lint_main(
            files,
            api_config,
            tyk_version,
            &secrets,
        )),
        Some(Command::Report { file, json }) => streamprobe::record::report_main(&file, json),
        Some(Command::Profiles) => match streamprobe::profile::list() {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("streamprobe profiles: {e:#}");
                ExitCode::from(2)
            }
        },
        Some(Command::Pipeline(args)) => {
            logging::to_stderr(&secrets);
            rt.block_on(pipeline::main(args, &secrets))
        }
    };
    // librdkafka's close may block on an unreachable cluster: do not wait
    // for such blocking tasks beyond a short grace period.
    rt.shutdown_timeout(Duration::from_millis(500));
    code
}
