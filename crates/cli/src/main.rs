//! The `tusk` command (minimal bootstrap; the full CLI is built on top of this).

fn main() {
    let path = std::env::args().nth(1).expect("usage: tusk FILE");
    let mut engine = tusk::Engine::new();
    match engine.eval_file(&path) {
        Ok(document) => println!("{}", tusk::format::to_json(document.value(), false)),
        Err(error) => {
            eprint!("{}", engine.render(&error, false));
            std::process::exit(1);
        }
    }
}
