//! Exports the runner's `connect` and `getaddrinfo` from its executable, so that the dynamic
//! linker binds a plugin's calls of these C library functions to them (see `src/net.rs`).

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|env| env == "gnu");
    if linux_gnu {
        for symbol in ["connect", "getaddrinfo"] {
            println!("cargo::rustc-link-arg-bin=tusk-plugin-runner=-Wl,--export-dynamic-symbol={symbol}");
        }
    }
}
