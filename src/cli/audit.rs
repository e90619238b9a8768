//! `mailgate audit DIR`: decide every mailbox and user of an exported org.

use super::inputs::load_policies;
use super::{Exit, PolicyArgs};
use crate::audit::{self, BundleSource, Format, ImportOptions};
use std::io::Write as _;
use std::path::PathBuf;

/// The deployment of the exported org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Deployment {
    /// Dynamics 365 online.
    Online,
    /// Dynamics 365 Customer Engagement (on-premises).
    Onpremises,
}

/// Output format of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AuditFormat {
    /// A report for people: blocked mailboxes first.
    Text,
    /// JSON Lines: mailboxes, users, then a summary.
    Json,
    /// One CSV row per mailbox.
    Csv,
    /// One self-contained HTML report (no external asset).
    Html,
}

/// Arguments of `audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The export bundle folder (see scripts/).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// The org's deployment (the export has no column for it).
    #[arg(long, value_enum, default_value = "online")]
    deployment: Deployment,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: AuditFormat,
    /// Override the server type of a profile (repeatable).
    #[arg(long = "server", value_name = "PROFILEID=TYPE")]
    servers: Vec<String>,
    #[command(flatten)]
    policies: PolicyArgs,
}

/// Runs `audit`.
pub(crate) fn run(args: &AuditArgs) -> Exit {
    let origin = args.policies.origin();
    let Some(set) = load_policies(&origin) else {
        return Exit::Failure;
    };
    let mut opts = ImportOptions {
        deployment: match args.deployment {
            Deployment::Online => "online",
            Deployment::Onpremises => "onpremises",
        }
        .to_owned(),
        ..ImportOptions::default()
    };
    for s in &args.servers {
        let Some((profile, ty)) = s.split_once('=') else {
            errln!("error: --server takes PROFILEID=TYPE, found `{s}`");
            return Exit::Usage;
        };
        opts.servers
            .insert(profile.trim().to_lowercase(), ty.trim().to_owned());
    }
    let bundle =
        match audit::import_bundle(&BundleSource::Dir(args.dir.clone()), &origin, &set, &opts) {
            Ok(b) => b,
            Err(audit::AuditError::Mapping(rendered)) => {
                err!("{rendered}");
                errln!("error: the Dataverse mapping has errors; nothing was audited");
                return Exit::Failure;
            }
            Err(e) => {
                errln!("error: {}", e.to_string().trim_end());
                return Exit::Failure;
            }
        };
    let format = match args.format {
        AuditFormat::Text => Format::Text,
        AuditFormat::Json => Format::Json,
        AuditFormat::Csv => Format::Csv,
        AuditFormat::Html => Format::Html,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = audit::write_report(&set, &bundle, format, &mut out);
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(_), Ok(())) => Exit::Ok,
        (Err(e), _) if e.to_string().contains("Broken pipe") => Exit::Ok,
        (Ok(_), Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Ok,
        (Err(e), _) => {
            errln!("error: {e}");
            Exit::Failure
        }
        (Ok(_), Err(e)) => {
            errln!("error: cannot write the report: {e}");
            Exit::Failure
        }
    }
}
