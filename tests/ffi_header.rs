//! The C header: up to date with what the pinned cbindgen generates, and
//! its version macros equal to the Cargo version.

#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::CStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const CBINDGEN_VERSION: &str = "0.29.2";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn header() -> String {
    std::fs::read_to_string(root().join("include/peerdisc.h")).expect("include/peerdisc.h")
}

fn define(header: &str, name: &str) -> String {
    let prefix = format!("#define {name} ");
    header
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{name} is not defined in the header"))
        .trim()
        .to_string()
}

#[test]
fn version_macros_equal_the_cargo_version() {
    let h = header();
    assert_eq!(
        define(&h, "PEERDISC_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert_eq!(
        define(&h, "PEERDISC_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert_eq!(
        define(&h, "PEERDISC_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION_PATCH")
    );
    assert_eq!(
        define(&h, "PEERDISC_VERSION"),
        format!("\"{}\"", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        define(&h, "PEERDISC_ABI_VERSION"),
        peerdisc::ffi::PEERDISC_ABI_VERSION.to_string()
    );
}

#[test]
fn version_functions_match() {
    let v = peerdisc::ffi::peerdisc_version();
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(v) }.to_str().unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        peerdisc::ffi::peerdisc_abi_version(),
        peerdisc::ffi::PEERDISC_ABI_VERSION
    );
}

/// The pinned cbindgen, unless `PEERDISC_HIDE_TOOLS` names it (to try the
/// skip on a machine that has it).
fn cbindgen() -> Option<PathBuf> {
    let hidden = std::env::var("PEERDISC_HIDE_TOOLS").unwrap_or_default();
    if hidden.split(',').any(|t| t.trim() == "cbindgen") {
        return None;
    }
    let mut candidates = vec![PathBuf::from("cbindgen")];
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cargo/bin/cbindgen"));
    }
    candidates.into_iter().find(|c| {
        Command::new(c).arg("--version").output().is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout).trim() == format!("cbindgen {CBINDGEN_VERSION}")
        })
    })
}

/// Fails when the committed header differs from what cbindgen 0.29.2
/// generates. Without that cbindgen the test prints
/// `SKIPPED: committed_header_is_up_to_date: cbindgen 0.29.2 missing (...)`
/// on the real stderr (shown even though cargo captures test output) and
/// passes having checked nothing, unless `PEERDISC_REQUIRE_CBINDGEN=1` (CI)
/// makes it fail.
#[test]
fn committed_header_is_up_to_date() {
    let Some(cbindgen) = cbindgen() else {
        let missing = format!(
            "cbindgen {CBINDGEN_VERSION} missing (cargo install cbindgen --version {CBINDGEN_VERSION} --locked)"
        );
        assert!(
            std::env::var_os("PEERDISC_REQUIRE_CBINDGEN").is_none(),
            "PEERDISC_REQUIRE_CBINDGEN is set: {missing}"
        );
        // Not eprintln!: the test harness would swallow it. One write, so
        // that the harness's own lines cannot split it.
        let line = format!(
            "SKIPPED: committed_header_is_up_to_date: {missing}; the header was not checked\n"
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
        return;
    };
    let out = std::env::temp_dir().join(format!("peerdisc-header-{}.h", std::process::id()));
    let status = Command::new(cbindgen)
        .current_dir(root())
        .args([
            "--config",
            "cbindgen.toml",
            "--quiet",
            "--crate",
            "peerdisc",
            "--output",
        ])
        .arg(&out)
        .status()
        .expect("run cbindgen");
    assert!(status.success(), "cbindgen failed");
    let generated = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert!(
        generated == header(),
        "include/peerdisc.h is out of date; regenerate it with:\n  cbindgen --config cbindgen.toml --crate peerdisc --output include/peerdisc.h"
    );
}
