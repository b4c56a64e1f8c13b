use super::*;

/// Both ends of one channel in this process, each with its own mapping of the memfd.
fn pair() -> ((RingSender, RingReceiver), (RingSender, RingReceiver)) {
    let host = SharedRings::create().unwrap();
    let runner = SharedRings::open(host.fd().try_clone_to_owned().unwrap()).unwrap();
    (host.split(Side::Host), runner.split(Side::Runner))
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut framed = (body.len() as u32).to_le_bytes().to_vec();
    framed.extend_from_slice(body);
    framed
}

fn soon() -> Option<Instant> {
    Some(Instant::now() + Duration::from_millis(50))
}

const CHECK: Duration = Duration::from_millis(5);

#[test]
fn frames_cross_both_ways_in_order() {
    let ((mut host_out, mut host_in), (mut runner_out, mut runner_in)) = pair();
    let mut both = frame(b"one");
    both.extend(frame(b""));
    host_out.send(&both, None, || false).unwrap();
    assert_eq!(runner_in.receive(soon(), CHECK, || false).unwrap(), b"one");
    assert_eq!(runner_in.receive(soon(), CHECK, || false).unwrap(), b"");
    assert_eq!(runner_in.receive(soon(), CHECK, || false), Err(ReadFailure::TimedOut));
    runner_out.send(&frame(b"answer"), None, || false).unwrap();
    assert!(host_in.has_pending());
    assert_eq!(host_in.receive(soon(), CHECK, || false).unwrap(), b"answer");
    assert!(!host_in.has_pending());
}

#[test]
fn a_message_larger_than_the_ring_goes_through_in_pieces_and_positions_wrap() {
    let ((mut host_out, _), (_, mut runner_in)) = pair();
    let body: Vec<u8> = (0..3 * RING_BYTES + 17).map(|index| (index % 251) as u8).collect();
    let reader = std::thread::spawn(move || {
        let mut bodies = Vec::new();
        for _ in 0..3 {
            let deadline = Some(Instant::now() + Duration::from_secs(20));
            bodies.push(runner_in.receive(deadline, CHECK, || false).unwrap().to_vec());
        }
        bodies
    });
    for _ in 0..3 {
        host_out.send(&frame(&body), Some(Instant::now() + Duration::from_secs(20)), || false).unwrap();
    }
    for received in reader.join().unwrap() {
        assert!(received == body, "the body arrived intact");
    }
}

#[test]
fn a_frame_that_arrives_in_pieces_survives_a_timed_out_wait() {
    let ((mut host_out, _), (_, mut runner_in)) = pair();
    let framed = frame(b"split in two");
    host_out.send(&framed[..6], None, || false).unwrap();
    assert_eq!(runner_in.receive(soon(), CHECK, || false), Err(ReadFailure::TimedOut));
    host_out.send(&framed[6..], None, || false).unwrap();
    assert_eq!(runner_in.receive(soon(), CHECK, || false).unwrap(), b"split in two");
}

#[test]
fn a_gone_writer_is_noticed_after_what_it_wrote_is_read() {
    let ((_, mut host_in), (mut runner_out, _)) = pair();
    runner_out.send(&frame(b"last words"), None, || false).unwrap();
    let started = Instant::now();
    assert_eq!(host_in.receive(None, CHECK, || true).unwrap(), b"last words");
    assert_eq!(host_in.receive(None, CHECK, || true), Err(ReadFailure::Closed));
    assert!(started.elapsed() < Duration::from_secs(5), "noticed without a deadline");
}

#[test]
fn a_waker_ends_a_long_sleep_at_once() {
    let ((_, mut host_in), (_runner_out, _)) = pair();
    let waker = host_in.waker();
    let gone = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = gone.clone();
    let started = Instant::now();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        seen.store(true, Ordering::SeqCst);
        waker.wake();
    });
    let outcome = host_in.receive(None, Duration::from_secs(60), || gone.load(Ordering::SeqCst));
    assert_eq!(outcome, Err(ReadFailure::Closed));
    assert!(started.elapsed() < Duration::from_secs(30), "woken, not timed out");
    thread.join().unwrap();
}

#[test]
fn a_reader_that_makes_no_room_times_the_writer_out() {
    let ((mut host_out, _), _runner) = pair();
    let body = vec![7u8; RING_BYTES];
    let error = host_out.send(&frame(&body), soon(), || false).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    let ((mut host_out, _), _runner) = pair();
    let error = host_out.send(&frame(&body), None, || true).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::BrokenPipe, "a gone reader ends the wait");
}

/// A hostile runner writes whatever it likes into the mapping: the host's reads and writes
/// end with a clear error instead of reading out of bounds, allocating without bound or
/// hanging.
#[test]
fn a_runner_scribbling_over_the_rings_gets_errors_not_crashes() {
    // The runner claims to have written more than the ring holds.
    let ((_, mut host_in), (runner_out, _)) = pair();
    runner_out.ring.word(HEAD).store(RING_BYTES as u32 + 1, Ordering::SeqCst);
    match host_in.receive(soon(), CHECK, || false) {
        Err(ReadFailure::Invalid(message)) => assert_eq!(
            message,
            "the channel's shared memory was corrupted: the writer's position is further ahead than the ring holds"
        ),
        other => panic!("expected an error, got {other:?}"),
    }
    // A head that went backwards (wraps to a huge count) is the same error.
    let ((_, mut host_in), (runner_out, _)) = pair();
    runner_out.ring.word(HEAD).store(u32::MAX, Ordering::SeqCst);
    assert!(matches!(host_in.receive(soon(), CHECK, || false), Err(ReadFailure::Invalid(_))));

    // The runner moves its reading position of the host's ring past what the host wrote.
    let ((mut host_out, _), (_, runner_in)) = pair();
    runner_in.ring.word(TAIL).store(12345, Ordering::SeqCst);
    let error = host_out.send(&frame(b"call"), soon(), || false).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    assert_eq!(
        error.to_string(),
        "the channel's shared memory was corrupted: the reader's position is not behind the writer's"
    );

    // A frame header claiming more than the limit is refused before anything is reserved.
    let ((_, mut host_in), (mut runner_out, _)) = pair();
    runner_out.send(&u32::MAX.to_le_bytes(), None, || false).unwrap();
    match host_in.receive(soon(), CHECK, || false) {
        Err(ReadFailure::Invalid(message)) => {
            assert_eq!(message, format!("frame of {} bytes is larger than the limit of {MAX_FRAME}", u32::MAX));
        }
        other => panic!("expected an error, got {other:?}"),
    }

    // Bytes written into the data area without publishing them are never read; bytes
    // changed after publishing are read as whatever they are (the decoder judges them).
    let ((_, mut host_in), (mut runner_out, _)) = pair();
    runner_out.ring.mapping.copy_in(REGION + DATA, &[0xff; 64]);
    assert_eq!(host_in.receive(soon(), CHECK, || false), Err(ReadFailure::TimedOut));
    runner_out.send(&frame(b"ok"), None, || false).unwrap();
    runner_out.ring.mapping.copy_in(REGION + DATA + 4, b"KO");
    assert_eq!(host_in.receive(soon(), CHECK, || false).unwrap(), b"KO");

    // Waiting flags set or cleared at random only cost wake-ups: the host still sees its
    // frames (a sleeping reader looks again every `CHECK`).
    let ((mut host_out, _), (_, mut runner_in)) = pair();
    host_out.ring.word(READER_WAITING).store(0xdead_beef, Ordering::SeqCst);
    host_out.send(&frame(b"still fine"), None, || false).unwrap();
    assert_eq!(runner_in.receive(soon(), CHECK, || false).unwrap(), b"still fine");
}

#[test]
fn memory_that_is_not_sealed_is_refused() {
    let host = SharedRings::create().unwrap();
    // A descriptor of another file (not sealed).
    let file = not_a_memfd();
    let error = SharedRings::open(file).err().unwrap();
    assert_eq!(error.to_string(), "the channel's memory is not sealed");
    drop(host);
}

fn not_a_memfd() -> std::os::fd::OwnedFd {
    let file = std::fs::File::open("/dev/null").unwrap();
    std::os::fd::OwnedFd::from(file)
}

#[test]
fn copies_at_any_alignment_and_length_keep_the_bytes_around_them() {
    let rings = SharedRings::create().unwrap();
    let mapping = &rings.mapping;
    let background: Vec<u8> = (0..64u8).map(|index| 0xa0 ^ index).collect();
    for start in DATA..DATA + 16 {
        for length in 0..=40 {
            mapping.copy_in(DATA, &background);
            let bytes: Vec<u8> = (1..=length as u8).collect();
            mapping.copy_in(start, &bytes);
            let mut expected = background.clone();
            expected[start - DATA..start - DATA + length].copy_from_slice(&bytes);
            let mut seen = vec![0; background.len()];
            mapping.copy_out(DATA, &mut seen);
            assert_eq!(seen, expected, "{length} bytes at {start}");
            let mut back = vec![0; length];
            mapping.copy_out(start, &mut back);
            assert_eq!(back, bytes, "{length} bytes at {start}");
        }
    }
    // The last bytes of the mapping, up to its end and no further.
    let end = MAPPING_BYTES;
    mapping.copy_in(end - 3, b"end");
    let mut last = [0; 3];
    mapping.copy_out(end - 3, &mut last);
    assert_eq!(&last, b"end");
    let past = std::panic::catch_unwind(|| mapping.copy_out(end - 2, &mut [0; 3])).unwrap_err();
    assert_eq!(past.downcast_ref::<&str>(), Some(&"read outside the mapping"));
}
