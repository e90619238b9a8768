//! Parses a generated 10,000-rule policy file once (for profiling the parser).
#![allow(missing_docs, reason = "example")]
fn main() {
    let (_, text) = mailgate::generate::policy_set(10_000, 100);
    let p = mailgate::syntax::parse(mailgate::source::FileId(1), &text);
    println!("{} items, {} errors", p.file.items.len(), p.errors.len());
}
