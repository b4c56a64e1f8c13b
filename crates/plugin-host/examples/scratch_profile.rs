//! Scratch profile (not committed).
use std::time::Instant;
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let index = std::env::args().nth(2).unwrap();
    for _ in 0..3 {
        let t = Instant::now();
        let bytes = std::fs::read(&index).unwrap();
        let t_read = t.elapsed();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let t_value = t.elapsed();
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            for f in ["plugin.toml", "config.schema.json"] { if std::fs::metadata(p.join(f)).is_ok() { n += 1; } }
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if std::fs::metadata(p.join(format!("libtusk_plugin_{name}.so"))).is_ok() { n += 1; }
        }
        let t_stat = t.elapsed();
        println!("read {:?} json-value {:?} stats({n}) {:?}", t_read, t_value - t_read, t_stat - t_value);
        drop(v);
    }
}
