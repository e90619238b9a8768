//! `mailgate eval --batch`: placeholder until the streaming batch lands.

use super::Exit;
use crate::compile::CompiledSet;
use std::path::Path;

pub(crate) fn run(_set: &CompiledSet, _input: &Path, _threads: Option<usize>) -> Exit {
    eprintln!("error: --batch is not implemented yet");
    Exit::Failure
}
