//! `peerdisc`: run a discovery node, or read a running node's peer table.
//!
//! ```text
//! peerdisc node --listen 127.0.0.1:7400 --bootstrap ws://127.0.0.1:7401/peerdisc --agent planner --tool search
//! peerdisc peers ws://127.0.0.1:7400/peerdisc [--json]
//! ```
//!
//! Exit codes: 0 success; 2 bad arguments; 3 invalid configuration; 4 the
//! node could not start (for example, its port is taken); 5 the node asked
//! for its peers could not be reached or gave a bad answer; 1 anything else.

mod args;
mod config;
mod node_cmd;
mod peers_cmd;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    let result = match cli.command {
        args::Command::Node(a) => node_cmd::run(a),
        args::Command::Peers(a) => peers_cmd::run(a),
    };
    if let Err(e) = result {
        eprintln!("peerdisc: {}", e.message);
        std::process::exit(e.code);
    }
}

/// An error with the exit code that goes with it.
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
    pub fn config(message: impl Into<String>) -> Self {
        Failure {
            code: 3,
            message: message.into(),
        }
    }
    pub fn start(message: impl Into<String>) -> Self {
        Failure {
            code: 4,
            message: message.into(),
        }
    }
    pub fn unreachable(message: impl Into<String>) -> Self {
        Failure {
            code: 5,
            message: message.into(),
        }
    }
    pub fn other(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}
