//! Compiles the .proto files with protox (pure Rust), so no protoc binary is needed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);

    // The public API: DOQ's service and doq's extension service, with a descriptor set for reflection.
    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(["proto/doq.proto", "proto/doq_ext.proto"])?;
    // `compile_fds` skips protoc, and with it the descriptor file protoc would have written: write it
    // here for reflection (`FILE_DESCRIPTOR_SET`).
    std::fs::write(
        out.join("doq_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(compiler.file_descriptor_set())?;

    // The internal node-to-node service; kept out of the reflection descriptor on purpose.
    let cluster = protox::compile(["proto/cluster.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(cluster)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
