//! What a websocket message is to a script, both ways, by one rule:
//!
//! - a text frame is a string;
//! - a binary frame is a byte string, the same going out and coming in (posted calls carry
//!   byte strings intact from plugin ABI 1.8), so an echo handler echoes binary frames as
//!   binary;
//! - an object with one key, `{binary: "<base64>"}` (standard alphabet), sent goes out as a
//!   binary frame of the bytes it encodes: the form received binary frames had before byte
//!   strings, still accepted;
//! - anything else sent (a number, a bool, an array, any other object) goes out as its JSON
//!   text in a text frame.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio_tungstenite::tungstenite::Message;
use tusk_plugin_sdk::OwnedValue;

/// The key of the one-entry object that stands for a binary frame sent (the older form).
pub const BINARY_KEY: &str = "binary";

/// The script's value of a received data frame (`None` for control frames).
pub fn incoming(message: &Message) -> Option<OwnedValue> {
    match message {
        Message::Text(text) => Some(OwnedValue::String(text.as_str().to_string())),
        Message::Binary(bytes) => Some(OwnedValue::Bytes(bytes.to_vec())),
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => None,
    }
}

/// The frame a script's value is sent as; the error says why it cannot be.
pub fn outgoing(value: OwnedValue) -> Result<Message, String> {
    match value {
        OwnedValue::String(text) => Ok(Message::text(text)),
        OwnedValue::Bytes(data) => Ok(Message::binary(data)),
        OwnedValue::Null => Err("there is nothing to send (the message is null)".to_string()),
        OwnedValue::Object(entries) if entries.len() == 1 && entries[0].0 == BINARY_KEY => {
            let Some((_, OwnedValue::String(encoded))) = entries.into_iter().next() else {
                return Err(format!("`{BINARY_KEY}` must be a base64 string"));
            };
            BASE64
                .decode(encoded.trim())
                .map(Message::binary)
                .map_err(|error| format!("`{BINARY_KEY}` is not base64: {error}"))
        }
        other => serde_json::to_string(&other)
            .map(Message::text)
            .map_err(|error| format!("the message cannot be written as JSON: {error}")),
    }
}

/// How large a message is on the wire (its payload), for the size limit of sends.
pub fn payload_len(message: &Message) -> usize {
    message.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{binary: "<base64>"}`, the older form of a binary frame sent.
    fn binary_value(bytes: &[u8]) -> OwnedValue {
        OwnedValue::Object(vec![(BINARY_KEY.to_string(), OwnedValue::String(BASE64.encode(bytes)))])
    }

    #[test]
    fn text_binary_and_json_go_out_as_their_frames() {
        assert_eq!(outgoing(OwnedValue::String("hi".into())).unwrap(), Message::text("hi"));
        assert_eq!(outgoing(binary_value(&[0, 1, 255])).unwrap(), Message::binary(vec![0u8, 1, 255]));
        assert_eq!(outgoing(OwnedValue::Bytes(vec![0, 1, 255])).unwrap(), Message::binary(vec![0u8, 1, 255]));
        assert_eq!(outgoing(OwnedValue::Bytes(Vec::new())).unwrap(), Message::binary(Vec::<u8>::new()));
        assert_eq!(
            outgoing(OwnedValue::Object(vec![("n".into(), OwnedValue::Int(1)), ("binary".into(), OwnedValue::Null)]))
                .unwrap(),
            Message::text(r#"{"n":1,"binary":null}"#)
        );
        assert_eq!(outgoing(OwnedValue::Array(vec![OwnedValue::Int(1)])).unwrap(), Message::text("[1]"));
        assert_eq!(outgoing(OwnedValue::Null).unwrap_err(), "there is nothing to send (the message is null)");
        assert_eq!(
            outgoing(OwnedValue::Object(vec![("binary".into(), OwnedValue::Int(3))])).unwrap_err(),
            "`binary` must be a base64 string"
        );
        assert!(
            outgoing(OwnedValue::Object(vec![("binary".into(), OwnedValue::String("%%".into()))]))
                .unwrap_err()
                .starts_with("`binary` is not base64: ")
        );
    }

    #[test]
    fn received_frames_read_back_as_they_were_sent() {
        assert_eq!(incoming(&Message::text("hi")), Some(OwnedValue::String("hi".into())));
        let value = incoming(&Message::binary(vec![7u8; 5])).unwrap();
        assert_eq!(value, OwnedValue::Bytes(vec![7; 5]));
        assert_eq!(outgoing(value).unwrap(), Message::binary(vec![7u8; 5]));
        assert_eq!(incoming(&Message::binary(Vec::<u8>::new())), Some(OwnedValue::Bytes(Vec::new())));
        assert_eq!(incoming(&Message::Ping(Vec::new().into())), None);
    }
}
