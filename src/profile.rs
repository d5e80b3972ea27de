//! Named profiles: `~/.config/streamprobe/config.toml` (XDG; the file
//! `STREAMPROBE_CONFIG` names wins) holds `[profiles.NAME]` tables whose
//! keys are the long flags of the UI and of `probe` (`amqp-url`,
//! `kafka-brokers`, `stream`, …), as kcat's and k9s's contexts are used:
//!
//! ```toml
//! [profiles.staging]
//! amqp-url = "amqps://rabbit.staging:5671"
//! amqp-ca = "/etc/ssl/staging-ca.pem"
//! kafka-brokers = "kafka.staging:9094"
//! kafka-user = "probe"
//! kafka-password-cmd = "pass show staging/kafka"   # or the environment
//! kafka-property = ["client.rack=eu-1"]           # repeatable flags: a list
//! ```
//!
//! `--profile NAME` (or `STREAMPROBE_PROFILE`) fills every option the
//! command line and the environment leave unset, so a flag or a variable
//! always wins. A `<flag>-cmd` key runs the command (`sh -c`) and takes its
//! output as the flag's value: secrets need not be in the file. Values are
//! registered as secrets, never shown (see [`list`]).

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::secrets::Secrets;

/// The config file: `$STREAMPROBE_CONFIG`, else
/// `$XDG_CONFIG_HOME/streamprobe/config.toml`, else
/// `~/.config/streamprobe/config.toml`.
pub fn path() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(p) = var("STREAMPROBE_CONFIG") {
        return PathBuf::from(p);
    }
    var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("streamprobe")
        .join("config.toml")
}

/// The `[profiles]` table of the config file.
fn profiles() -> Result<(PathBuf, toml::Table)> {
    let file = path();
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("profile file {}", file.display()))?;
    // the message and position only: toml's own text quotes the line,
    // which may hold a password
    let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let at = e.span().map_or(String::new(), |s| {
            let before = &text[..s.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(":{line}:{col}")
        });
        anyhow!(
            "{}{at}: TOML syntax: {}",
            file.display(),
            e.message().trim_end()
        )
    })?;
    let profiles = match doc.remove("profiles") {
        Some(toml::Value::Table(t)) => t,
        None => toml::Table::new(),
        Some(_) => bail!(
            "{}: `profiles` must be a table ([profiles.NAME])",
            file.display()
        ),
    };
    Ok((file, profiles))
}

/// Keys whose values are secret (shown as `***`).
fn secret_key(key: &str) -> bool {
    // `pas`, not `password`: a misspelt key (`amqp-pasword`) must not show
    // its value either
    let key = key.to_ascii_lowercase();
    ["pas", "pw", "ssw", "word", "secret", "token", "cred"]
        .iter()
        .any(|w| key.contains(w))
}

/// The profile's flags for the command line `args` (argv, program first),
/// inserted where the command's own options go (after `probe`, or after the
/// program for the UI), for every option the command line and the
/// environment leave unset. `args` comes back unchanged without a profile,
/// and for the subcommands that take none (`pipeline`, `lint`, `report`).
///
/// Errors: the file cannot be read or parsed, no such profile, a key that
/// is no flag of the UI or of `probe`, a `-cmd` that fails.
pub fn expand(mut args: Vec<OsString>, secrets: &Secrets) -> Result<Vec<OsString>> {
    let text: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some(name) = selected(&text) else {
        return Ok(args);
    };
    let root = Cli::command();
    let sub_at = text
        .iter()
        .skip(1)
        .position(|a| root.get_subcommands().any(|s| s.get_name() == a));
    let (cmd, insert_at) = match sub_at.map(|i| (i + 1, text[i + 1].as_str())) {
        Some((i, "probe")) => (
            root.find_subcommand("probe").cloned().expect("probe"),
            i + 1,
        ),
        Some(_) => return Ok(args),
        None => (root.clone(), 1),
    };
    let (file, mut all) = profiles()?;
    let known: Vec<String> = all.keys().cloned().collect();
    let Some(toml::Value::Table(profile)) = all.remove(&name) else {
        bail!(
            "--profile {name}: no such profile in {} (profiles: {})",
            file.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    };
    let probe = root.find_subcommand("probe").expect("probe");
    let mut extra: Vec<OsString> = Vec::new();
    for (key, value) in profile {
        let (flag, from_cmd) = match key.strip_suffix("-cmd") {
            Some(f) => (f.to_owned(), true),
            None => (key.clone(), false),
        };
        let is_flag = |c: &clap::Command| c.get_arguments().any(|a| a.get_long() == Some(&flag));
        if flag == "profile" || !(is_flag(&root) || is_flag(probe)) {
            bail!(
                "{}: profile {name}: `{key}` is no option of streamprobe or `streamprobe probe` (keys are their long flags, e.g. amqp-url)",
                file.display()
            );
        }
        let Some(arg) = cmd.get_arguments().find(|a| a.get_long() == Some(&flag)) else {
            continue; // an option of the other command (e.g. `count` for the UI)
        };
        let set = |a: &clap::Arg| {
            let long = a.get_long().unwrap_or_default();
            let on_line = !long.is_empty()
                && text
                    .iter()
                    .any(|t| *t == format!("--{long}") || t.starts_with(&format!("--{long}=")));
            on_line
                || a.get_env()
                    .is_some_and(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
        };
        // the command line or the environment wins: over this very option,
        // and over one it cannot be used with (e.g. `--stream` over the
        // profile's `amqp-url`)
        let conflicts = |a: &clap::Arg, b: &clap::Arg| {
            cmd.get_arg_conflicts_with(a)
                .iter()
                .any(|c| c.get_id() == b.get_id())
        };
        if set(arg)
            || cmd
                .get_arguments()
                .any(|g| set(g) && (conflicts(arg, g) || conflicts(g, arg)))
        {
            continue;
        }
        let values: Vec<toml::Value> = match value {
            toml::Value::Array(list) => list,
            v => vec![v],
        };
        for v in values {
            let v = match v {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(true) if !from_cmd => {
                    extra.push(format!("--{flag}").into());
                    continue;
                }
                toml::Value::Boolean(false) if !from_cmd => continue,
                other => bail!(
                    "{}: profile {name}: `{key}` = {other}: expected a string, number, boolean or list",
                    file.display()
                ),
            };
            let v = if from_cmd {
                run(&file, &name, &key, &v)?
            } else {
                v
            };
            if from_cmd || secret_key(&flag) {
                secrets.register(&v, &format!("profile {name} {key}"));
            }
            extra.push(format!("--{flag}={v}").into());
        }
    }
    args.splice(insert_at..insert_at, extra);
    Ok(args)
}

/// A profile value as `streamprobe profiles` shows it: `***` for a secret
/// key's; a URL's password and a secret `--kafka-property` value (e.g.
/// `ssl.key.password=…`) masked inside strings and lists.
fn shown(key: &str, v: &toml::Value) -> String {
    if secret_key(key) && !key.ends_with("-cmd") {
        return "***".to_owned();
    }
    let mask = |s: &str| -> String {
        if let Some((k, _)) = s
            .split_once('=')
            .filter(|(k, _)| crate::kafka::secret_property(k))
        {
            format!("{k}=***")
        } else if s.contains("://") || s.contains('@') {
            crate::amqp::redact_url(s)
        } else {
            s.to_owned()
        }
    };
    match v {
        toml::Value::String(s) => toml::Value::String(mask(s)).to_string(),
        toml::Value::Array(list) => {
            let items: Vec<String> = list.iter().map(|i| shown(key, i)).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// The profile the command line (`--profile NAME`) or STREAMPROBE_PROFILE
/// selects, if any.
pub fn selected(args: &[String]) -> Option<String> {
    args.iter()
        .enumerate()
        .find_map(|(i, a)| {
            a.strip_prefix("--profile=").map(str::to_owned).or_else(|| {
                (a == "--profile")
                    .then(|| args.get(i + 1).cloned())
                    .flatten()
            })
        })
        .or_else(|| {
            std::env::var("STREAMPROBE_PROFILE")
                .ok()
                .filter(|v| !v.is_empty())
        })
}

/// Runs a profile's `-cmd` value with `sh -c`: its output, trimmed.
fn run(file: &std::path::Path, name: &str, key: &str, cmd: &str) -> Result<String> {
    let out = std::process::Command::new("sh")
        .args(["-c", cmd])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("{}: profile {name}: `{key}`: cannot run sh", file.display()))?;
    if !out.status.success() {
        bail!(
            "{}: profile {name}: `{key}` command failed ({})",
            file.display(),
            out.status
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim_end_matches(['\n', '\r'])
        .to_owned())
}

/// `streamprobe profiles`: the config file and each profile's keys, the
/// values of secret keys shown as `***` (a `-cmd` key shows its command,
/// not its output).
///
/// Errors: the file cannot be read or parsed.
pub fn list() -> Result<String> {
    let (file, all) = profiles()?;
    let mut out = format!("{}\n", file.display());
    if all.is_empty() {
        out.push_str("  (no [profiles.NAME] table)\n");
    }
    for (name, p) in &all {
        out.push_str(&format!("{name}\n"));
        let Some(t) = p.as_table() else {
            out.push_str("  (not a table)\n");
            continue;
        };
        for (k, v) in t {
            out.push_str(&format!("  {k} = {}\n", shown(k, v)));
        }
    }
    Ok(out)
}
