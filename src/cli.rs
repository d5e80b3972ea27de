//! Command-line interface (clap). Every option is a long flag with an
//! environment variable; defaults are the seed demo's endpoints and names.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::amqp::AmqpEndpoint;

/// See a Tyk Streams / Bento pipeline work: inject probe messages into an
/// AMQP 1.0 source, watch every destination, measure every message.
#[derive(Debug, Parser)]
#[command(name = "streamprobe", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the terminal UI (the default command).
    #[command(flatten)]
    pub ui: UiArgs,
}

/// The subcommands. Without one, streamprobe opens the terminal UI.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run stream definitions (Bento/Tyk Streams YAML) locally, in-process.
    Pipeline(PipelineArgs),
}

/// Broker endpoints and names shared by the UI and the headless probe.
#[derive(Debug, Clone, Args)]
pub struct Endpoints {
    /// AMQP 1.0 broker URL (source and AMQP destination).
    #[arg(long, env = "STREAMPROBE_AMQP_URL", default_value = "amqp://localhost:5672")]
    pub amqp_url: String,
    /// SASL PLAIN user for the AMQP broker (empty: anonymous).
    #[arg(long, env = "STREAMPROBE_AMQP_USER", default_value = "guest")]
    pub amqp_user: String,
    /// SASL PLAIN password for the AMQP broker. Never shown or logged.
    #[arg(long, env = "STREAMPROBE_AMQP_PASSWORD", default_value = "guest", hide_env_values = true, hide_default_value = true)]
    pub amqp_password: String,
    /// AMQP 1.0 address the stream reads from (where probes are injected).
    #[arg(long, env = "STREAMPROBE_SOURCE", default_value = "EXTERNAL")]
    pub source: String,
    /// AMQP 1.0 address of the AMQP destination.
    #[arg(long, env = "STREAMPROBE_AMQP_TARGET", default_value = "FOO")]
    pub amqp_target: String,
    /// Kafka bootstrap servers (comma-separated host:port).
    #[arg(long, env = "STREAMPROBE_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// Kafka topic of the Kafka destination.
    #[arg(long, env = "STREAMPROBE_KAFKA_TOPIC", default_value = "FOO")]
    pub kafka_topic: String,
}

impl Endpoints {
    /// The AMQP endpoint (URL + credentials).
    pub fn amqp(&self) -> AmqpEndpoint {
        AmqpEndpoint {
            url: self.amqp_url.clone(),
            user: self.amqp_user.clone(),
            password: self.amqp_password.clone(),
        }
    }
}

/// Options of the terminal UI.
#[derive(Debug, Clone, Args)]
pub struct UiArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// Messages sent by one burst (`b`); `+`/`-` change it in the UI.
    #[arg(long, env = "STREAMPROBE_BURST", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub burst: u32,
    /// Log file (the terminal never shows logs). Default:
    /// $XDG_STATE_HOME/streamprobe/streamprobe.log (or ~/.local/state/...).
    #[arg(long, env = "STREAMPROBE_LOG_FILE")]
    pub log_file: Option<PathBuf>,
}

/// Options of `streamprobe pipeline`.
#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    /// Stream definition files (one stream per file, or one file with a
    /// Tyk-style `streams:` map).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// On Ctrl-C/SIGTERM, how long to wait for in-flight messages to be
    /// confirmed by the outputs before leaving them unsettled (the broker
    /// then redelivers them), in seconds.
    #[arg(long, env = "STREAMPROBE_DRAIN_TIMEOUT", default_value_t = 10)]
    pub drain_timeout: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_the_seeds() {
        let cli = Cli::try_parse_from(["streamprobe"]).unwrap();
        let e = &cli.ui.endpoints;
        assert_eq!(e.amqp_url, "amqp://localhost:5672");
        assert_eq!((e.amqp_user.as_str(), e.amqp_password.as_str()), ("guest", "guest"));
        assert_eq!((e.source.as_str(), e.amqp_target.as_str()), ("EXTERNAL", "FOO"));
        assert_eq!((e.kafka_brokers.as_str(), e.kafka_topic.as_str()), ("127.0.0.1:9092", "FOO"));
        assert_eq!(cli.ui.burst, 100);
    }

    #[test]
    fn pipeline_needs_a_file() {
        assert!(Cli::try_parse_from(["streamprobe", "pipeline"]).is_err());
        let cli = Cli::try_parse_from(["streamprobe", "pipeline", "stream.yaml"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Pipeline(_))));
    }
}
