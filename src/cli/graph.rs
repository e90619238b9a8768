//! `mailgate graph ACTION`: how an action is decided, as a Mermaid or DOT flowchart.

use super::inputs::load_policies;
use super::{Exit, PolicyArgs};
use crate::graph::{Graph, MERMAID_MAX_EDGES, MERMAID_MAX_TEXT};

/// Graph formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GraphFormat {
    /// A Mermaid flowchart (GitHub renders it in a `mermaid` code block).
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

/// Arguments of `graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The action to draw, e.g. `approve_mailbox`.
    action: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    format: GraphFormat,
    #[command(flatten)]
    policies: PolicyArgs,
}

/// Runs `graph`.
pub(crate) fn run(args: &GraphArgs) -> Exit {
    let Some(set) = load_policies(&args.policies.origin()) else {
        return Exit::Failure;
    };
    let graph = match Graph::new(&set, &args.action) {
        Ok(g) => g,
        Err(e) => {
            errln!("error: {e}");
            let crate::graph::GraphError::UnknownAction { help, .. } = &e;
            if let Some(help) = help {
                errln!("help: {help}");
            }
            return Exit::Failure;
        }
    };
    match args.format {
        GraphFormat::Mermaid => {
            let text = graph.to_mermaid(&set);
            let chars = text.chars().count();
            if graph.edges.len() > MERMAID_MAX_EDGES || chars > MERMAID_MAX_TEXT {
                errln!(
                    "warning: this graph has {} edges and {chars} characters; Mermaid's defaults refuse more than {MERMAID_MAX_EDGES} edges or {MERMAID_MAX_TEXT} characters, so GitHub will not render it; try `--format dot`",
                    graph.edges.len()
                );
            }
            out!("{text}");
        }
        GraphFormat::Dot => out!("{}", graph.to_dot(&set)),
    }
    Exit::Ok
}
