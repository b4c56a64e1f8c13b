//! Fuzzes the plugin wire protocol: any bytes either decode to one message or are an error
//! (never a panic, an unbounded allocation or unbounded recursion), in both directions, and a
//! message that decodes encodes back to bytes that decode to the same message (the event
//! channel's messages too).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tusk_plugin_wire::{EventToHost, EventToRunner, ToHost, ToRunner};

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = ToHost::decode(data) {
        let mut bytes = Vec::new();
        message.encode(&mut bytes);
        let again = ToHost::decode(&bytes).expect("a decoded message re-encodes to a valid one");
        // NaN floats compare unequal to themselves; compare the encodings instead.
        let mut bytes_again = Vec::new();
        again.encode(&mut bytes_again);
        assert_eq!(bytes, bytes_again);
    }
    if let Ok(message) = ToRunner::decode(data) {
        let mut bytes = Vec::new();
        message.encode(&mut bytes);
        let again = ToRunner::decode(&bytes).expect("a decoded message re-encodes to a valid one");
        let mut bytes_again = Vec::new();
        again.encode(&mut bytes_again);
        assert_eq!(bytes, bytes_again);
    }
    // The event channel's messages hold no floats: they compare equal.
    if let Ok(message) = EventToHost::decode(data) {
        let mut bytes = Vec::new();
        message.encode(&mut bytes);
        assert_eq!(EventToHost::decode(&bytes).expect("a decoded event re-encodes to a valid one"), message);
    }
    if let Ok(message) = EventToRunner::decode(data) {
        let mut bytes = Vec::new();
        message.encode(&mut bytes);
        assert_eq!(EventToRunner::decode(&bytes).expect("a decoded event re-encodes to a valid one"), message);
    }
    // Framing over a byte stream: never panics, whatever the length prefix says.
    let mut reader = data;
    let mut buffer = Vec::new();
    while let Ok(true) = tusk_plugin_wire::read_frame(&mut reader, &mut buffer) {
        let _ = ToHost::decode(&buffer);
    }
});
