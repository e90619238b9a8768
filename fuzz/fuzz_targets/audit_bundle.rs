//! Arbitrary bytes as one file of an audit export bundle (the first byte picks which),
//! the rest of the bundle being the test fixture: importing and reporting must never
//! panic, and a report that is written is JSON Lines ending in a summary.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate::audit::{self, BundleSource, Format, ImportOptions};
use mailgate::compile::CompiledSet;
use mailgate::policy_set::{Origin, load};
use std::collections::BTreeMap;
use std::sync::LazyLock;

static SET: LazyLock<CompiledSet> = LazyLock::new(|| {
    load(&Origin::Embedded)
        .unwrap_or_else(|_| panic!("the shipped policy set loads"))
        .set
});

macro_rules! fixture {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../tests/fixtures/audit/contoso/", $name)))),*]
    };
}

const FILES: &[(&str, &str)] = fixture![
    "mailboxes.json",
    "systemusers.json",
    "teams.json",
    "organizations.json",
    "version.json",
    "emailserverprofiles.json",
    "directory-roles.json",
    "queues.json",
    "privileges/00000051-0000-4000-8000-000000000001.json",
    "privileges/00000051-0000-4000-8000-000000000002.json",
    "privileges/00000051-0000-4000-8000-000000000003.json",
    "privileges/00000051-0000-4000-8000-000000000004.json",
    "privileges/00000051-0000-4000-8000-000000000005.json",
    "privileges/00000051-0000-4000-8000-000000000006.json",
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut files: BTreeMap<String, String> = FILES
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect();
    let name = FILES[usize::from(which) % FILES.len()].0;
    files.insert(name.to_owned(), text.to_owned());
    let opts = ImportOptions {
        deployment: "online".to_owned(),
        ..ImportOptions::default()
    };
    let src = BundleSource::Memory(files);
    let Ok(bundle) = audit::import_bundle(&src, &Origin::Embedded, &SET, &opts) else {
        return;
    };
    let mut out = Vec::new();
    if audit::write_report(&SET, &bundle, Format::Json, &mut out).is_ok() {
        let text = std::str::from_utf8(&out).expect("the report is UTF-8");
        let mut last = None;
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
            last = Some(v);
        }
        assert_eq!(last.expect("a summary")["summary"], "audit");
    }
});
