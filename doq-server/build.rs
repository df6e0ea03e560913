//! Records which storage backends this binary is built with, for `doq --version`.
fn main() {
    let mut backends = vec!["memory"];
    for (feature, name) in [
        ("CARGO_FEATURE_REDB", "redb"),
        ("CARGO_FEATURE_ROCKSDB", "rocksdb"),
        ("CARGO_FEATURE_SLED", "sled"),
    ] {
        if std::env::var_os(feature).is_some() {
            backends.push(name);
        }
    }
    println!("cargo:rustc-env=DOQ_BACKENDS={}", backends.join(", "));
    println!("cargo:rerun-if-changed=build.rs");
}
