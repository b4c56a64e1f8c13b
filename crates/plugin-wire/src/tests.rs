//! Round trips of every message, and hostile bytes: truncated frames, garbage, huge counts and
//! lengths, deep nesting, invalid UTF-8, trailing bytes.

use crate::*;

fn value_sample() -> WireValue {
    WireValue::Object(vec![
        ("null".into(), WireValue::Null),
        ("yes".into(), WireValue::Bool(true)),
        ("no".into(), WireValue::Bool(false)),
        ("min".into(), WireValue::Int(i64::MIN)),
        ("max".into(), WireValue::Int(i64::MAX)),
        ("minus one".into(), WireValue::Int(-1)),
        ("pi".into(), WireValue::Float(std::f64::consts::PI)),
        ("text".into(), WireValue::Str("héllo, wörld ✓".into())),
        ("bytes".into(), WireValue::Bytes(vec![0, 1, 0x80, 0xff])),
        ("no bytes".into(), WireValue::Bytes(Vec::new())),
        ("list".into(), WireValue::Array(vec![WireValue::Int(1), WireValue::Array(vec![]), WireValue::Str("".into())])),
        ("range".into(), WireValue::Range(-5, 10)),
        ("function".into(), WireValue::Function(u64::MAX)),
        ("object".into(), WireValue::PluginObject { id: 7, type_name: "db.connection".into() }),
        ("opaque".into(), WireValue::Opaque(3)),
    ])
}

fn to_runner_samples() -> Vec<ToRunner> {
    vec![
        ToRunner::Init(Box::new(Init {
            protocol: PROTOCOL_VERSION,
            plugin: "sql".into(),
            library: "/cache/sql/abc.so".into(),
            config_json: "{\"a\":1}".into(),
            fs: FsGrants { read_all: false, write_all: true, read: vec!["/data".into()], write: vec![] },
            net: NetGrant::Brokered,
            limits: Limits {
                memory_bytes: 1 << 30,
                cpu_seconds: 60,
                idle_millis: 30_000,
                max_depth: 32,
                min_landlock_abi: 0,
            },
        })),
        ToRunner::Call { id: 1, symbol: 2, args: vec![value_sample(), WireValue::Null] },
        ToRunner::CallbackResult { id: 9, result: Ok(value_sample()) },
        ToRunner::CallbackResult { id: 9, result: Err("boom".into()) },
        ToRunner::MapResult { id: 10, outcome: Ok(value_sample()) },
        ToRunner::MapResult { id: 10, outcome: Err(MapFailure::Unsupported("captures a handle".into())) },
        ToRunner::MapResult { id: 10, outcome: Err(MapFailure::Failed("boom".into())) },
        ToRunner::Reply { id: 1, result: Ok(None) },
        ToRunner::Reply { id: 2, result: Ok(Some("value".into())) },
        ToRunner::Reply { id: 3, result: Err("refused".into()) },
        ToRunner::DropObject { id: 12 },
        ToRunner::Shutdown,
        ToRunner::Cancel,
    ]
}

fn to_host_samples() -> Vec<ToHost> {
    vec![
        ToHost::Ready(Box::new(Ready {
            protocol: PROTOCOL_VERSION,
            name: "sql".into(),
            version: "1.0.0".into(),
            symbols: vec![Symbol {
                index: 0,
                name: "sql".into(),
                kind: 0,
                side_effects: true,
                lazy_arguments: 0b10,
                signature: "@sql(q)".into(),
                summary: "Runs a query.".into(),
                examples: vec!["@sql(\"select 1\") => [[1]]".into()],
            }],
            layers: vec![
                Layer { name: "landlock".into(), state: LayerState::Active, detail: "ABI 6".into() },
                Layer { name: "seccomp".into(), state: LayerState::Unavailable, detail: String::new() },
                Layer { name: "network".into(), state: LayerState::Off, detail: String::new() },
                Layer { name: "x".into(), state: LayerState::Partial, detail: String::new() },
            ],
        })),
        ToHost::InitFailed { message: "nope".into() },
        ToHost::Result { id: 1, result: Ok(value_sample()) },
        ToHost::Result {
            id: 2,
            result: Err(CallError {
                panicked: true,
                kind: 8,
                argument: Some(1),
                message: "plugin panicked: x".into(),
                help: "h".into(),
            }),
        },
        ToHost::Result {
            id: 2,
            result: Err(CallError { panicked: false, kind: 0, argument: None, message: "m".into(), help: "".into() }),
        },
        ToHost::Callback { id: 4, call_id: 1, function: 3, args: vec![WireValue::Int(2)] },
        ToHost::Map { id: 5, call_id: 1, function: 3, items: WireValue::Range(0, 100_000), workers: 0 },
        ToHost::Map { id: 6, call_id: 1, function: 3, items: value_sample(), workers: 4 },
        ToHost::Request { id: 5, request: Request::Read("/etc/passwd".into()) },
        ToHost::Request { id: 5, request: Request::Write("/tmp/x".into()) },
        ToHost::Request { id: 5, request: Request::Env("HOME".into()) },
        ToHost::Request { id: 5, request: Request::Connect { host: "localhost".into(), port: 8080 } },
        ToHost::Log { level: 2, message: "hi".into(), fields: value_sample() },
        ToHost::ShutdownDone { error: None },
        ToHost::ShutdownDone { error: Some("failed".into()) },
        ToHost::IdleExit,
    ]
}

fn encoded_runner(message: &ToRunner) -> Vec<u8> {
    let mut bytes = Vec::new();
    message.encode(&mut bytes);
    bytes
}

fn encoded_host(message: &ToHost) -> Vec<u8> {
    let mut bytes = Vec::new();
    message.encode(&mut bytes);
    bytes
}

#[test]
fn every_message_round_trips() {
    for message in to_runner_samples() {
        assert_eq!(ToRunner::decode(&encoded_runner(&message)).as_ref(), Ok(&message));
    }
    for message in to_host_samples() {
        assert_eq!(ToHost::decode(&encoded_host(&message)).as_ref(), Ok(&message));
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for message in to_runner_samples() {
        let bytes = encoded_runner(&message);
        for end in 0..bytes.len() {
            assert!(ToRunner::decode(&bytes[..end]).is_err(), "{message:?} cut at {end}");
        }
    }
    for message in to_host_samples() {
        let bytes = encoded_host(&message);
        for end in 0..bytes.len() {
            assert!(ToHost::decode(&bytes[..end]).is_err(), "{message:?} cut at {end}");
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = encoded_host(&ToHost::IdleExit);
    bytes.push(0);
    assert_eq!(ToHost::decode(&bytes).unwrap_err().problem, "trailing bytes after the message");
}

#[test]
fn garbage_never_panics() {
    // A fixed-seed generator: the same bytes on every run.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..20_000 {
        let length = (next() % 64) as usize;
        let mut bytes: Vec<u8> = (0..length).map(|_| next() as u8).collect();
        // Start half of them with a valid tag so decoding gets past the first byte.
        if round % 2 == 0 && !bytes.is_empty() {
            bytes[0] = [1, 2, 3, 4, 5, 101, 103, 104, 105, 106][(next() % 10) as usize];
        }
        let _ = ToHost::decode(&bytes);
        let _ = ToRunner::decode(&bytes);
    }
}

#[test]
fn hostile_counts_and_lengths_are_refused_before_allocating() {
    // A call claiming u64::MAX arguments.
    let mut bytes = vec![2, 1, 0];
    bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert_eq!(ToRunner::decode(&bytes).unwrap_err().problem, "count larger than the frame");
    // A log whose message claims 2^40 bytes.
    let bytes = [106, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20];
    assert_eq!(ToHost::decode(&bytes).unwrap_err().problem, "count larger than the frame");
    // An eleven-byte varint.
    let bytes = [5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00];
    assert!(ToRunner::decode(&bytes).is_err());
    // A ten-byte varint overflowing 64 bits.
    let bytes = [5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
    assert_eq!(ToRunner::decode(&bytes).unwrap_err().problem, "varint overflows 64 bits");
}

#[test]
fn invalid_utf8_and_unknown_tags_are_refused() {
    let bytes = [102, 2, 0xc3, 0x28];
    assert_eq!(ToHost::decode(&bytes).unwrap_err().problem, "text is not UTF-8");
    assert_eq!(ToHost::decode(&[250]).unwrap_err().problem, "unknown message tag");
    let bytes = [106, 0, 0, 99];
    assert_eq!(ToHost::decode(&bytes).unwrap_err(), DecodeError { offset: 3, problem: "unknown value tag" });
    // A boolean that is neither 0 nor 1.
    let bytes = [1, 1, 0, 0, 0, 7];
    assert_eq!(ToRunner::decode(&bytes).unwrap_err().problem, "invalid boolean");
}

#[test]
fn nesting_is_bounded() {
    // MAX_DEPTH + 2 nested one-item arrays inside a log's fields.
    let mut bytes = vec![106, 0, 0];
    for _ in 0..MAX_DEPTH + 2 {
        bytes.extend_from_slice(&[6, 1]);
    }
    bytes.push(0);
    assert_eq!(ToHost::decode(&bytes).unwrap_err().problem, "value nested too deeply");
    // Exactly MAX_DEPTH levels below the top decode.
    let mut value = WireValue::Null;
    for _ in 0..MAX_DEPTH {
        value = WireValue::Array(vec![value]);
    }
    let message = ToHost::Log { level: 0, message: String::new(), fields: value };
    assert_eq!(ToHost::decode(&encoded_host(&message)).as_ref(), Ok(&message));
}

#[test]
fn frames_round_trip_and_hostile_lengths_fail() {
    let mut stream = Vec::new();
    let mut buffer = Vec::new();
    for message in to_host_samples() {
        write_frame(&mut stream, &mut buffer, |out| message.encode(out)).unwrap();
    }
    let mut reader = std::io::Cursor::new(&stream);
    for message in to_host_samples() {
        assert!(read_frame(&mut reader, &mut buffer).unwrap());
        assert_eq!(ToHost::decode(&buffer).unwrap(), message);
    }
    assert!(!read_frame(&mut reader, &mut buffer).unwrap(), "clean end of stream");

    // A frame cut short.
    let mut reader = std::io::Cursor::new(&stream[..stream.len() - 1]);
    let mut result = Ok(true);
    while let Ok(true) = result {
        result = read_frame(&mut reader, &mut buffer);
    }
    assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    // A header cut short.
    let mut reader = std::io::Cursor::new(&[1u8, 0][..]);
    assert_eq!(read_frame(&mut reader, &mut buffer).unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    // A length over the limit.
    let mut reader = std::io::Cursor::new(&[0xffu8, 0xff, 0xff, 0xff, 0][..]);
    assert_eq!(read_frame(&mut reader, &mut buffer).unwrap_err().kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn small_calls_are_small() {
    let call = ToRunner::Call { id: 1, symbol: 0, args: vec![WireValue::Str("tusk".into())] };
    assert_eq!(encoded_runner(&call).len(), 10);
}

#[test]
fn the_runner_hello_names_its_protocol_and_other_bytes_name_none() {
    let hello = runner_hello();
    assert_eq!(hello[0], PREAMBLE);
    assert_eq!(hello[1..], PROTOCOL_VERSION.to_le_bytes());
    assert_eq!(hello_version(&hello), Some(PROTOCOL_VERSION));
    assert_eq!(hello_version(&[b'T', 5, 0, 0, 0]), Some(5));
    assert_eq!(hello_version(&[b'T', 0, 1, 0, 0]), Some(256));
    assert_eq!(hello_version(&[0, 5, 0, 0, 0]), None);
    assert_eq!(hello_version(b"HTTP/"), None);
}
