//! The event channel: a second socket pair between the host and a runner, for long-lived
//! plugins. Its runner end travels with the preamble (the first descriptor; the network
//! broker's, when there is one, comes second).
//!
//! Unlike the main channel it is not a strict exchange: the plugin's own threads write
//! [`EventToHost`] messages at any time (posted calls of retained script functions, services
//! starting and ending, retained functions released), one frame at a time under a lock; a host
//! thread reads them and queues the work on the interpreter's event loop, whose answers
//! ([`EventToRunner`]) a runner thread reads and hands to the plugin. Retaining a function is
//! not done here: it belongs to a call, so it is a [`crate::Request::Retain`] on the main
//! channel.
//!
//! The hand-off of sockets between plugins (ABI 1.4) travels here too, because a plugin may
//! deposit or take from any thread and the host answers on its own thread without the
//! interpreter: [`EventToHost::Deposit`] carries the socket as `SCM_RIGHTS` ancillary data on
//! its frame's first byte, and so does a successful [`EventToRunner::Taken`]. Every other
//! frame carries no descriptor; a reader that finds descriptors where none belong, or more
//! than one, closes them and ends the channel.

use crate::codec::{Decoded, Decoder, Encoder};

/// From the runner's plugin threads to the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventToHost {
    /// Call retained function `function` with `args_json` (a JSON array); answered by
    /// [`EventToRunner::PostDone`] with the same `id`.
    Post {
        /// The runner's id for the answer.
        id: u64,
        /// The retained function (from the `Retain` request's reply).
        function: u64,
        /// The arguments, a JSON array.
        args_json: String,
    },
    /// Start service `id` (the runner's id); answered by [`EventToRunner::ServiceStarted`].
    StartService {
        /// The runner's id of the service.
        id: u64,
        /// What it is, for messages.
        name: String,
    },
    /// Service `id` ended.
    EndService {
        /// The runner's id of the service.
        id: u64,
    },
    /// The plugin let go of retained function `function`.
    Release {
        /// The retained function.
        function: u64,
    },
    /// Keep the socket attached to this frame (`SCM_RIGHTS`, exactly one descriptor) on the
    /// process's hand-off desk; answered by [`EventToRunner::Deposited`].
    Deposit {
        /// The runner's id for the answer.
        id: u64,
        /// The bytes the plugin read ahead of the protocol.
        prefix: Vec<u8>,
    },
    /// Give the socket deposited under `ticket`; answered by [`EventToRunner::Taken`].
    Take {
        /// The runner's id for the answer.
        id: u64,
        /// The desk's ticket.
        ticket: u64,
    },
}

/// From the host to the runner's event thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventToRunner {
    /// The outcome of a `Post`: the result as JSON text, or the error (`script` when the
    /// script function itself failed).
    PostDone {
        /// The post's id.
        id: u64,
        /// Result or error.
        result: Result<String, PostFailure>,
    },
    /// The answer to `StartService`: started, or refused (tusk is shutting down).
    ServiceStarted {
        /// The runner's id of the service.
        id: u64,
        /// `Err(message)` when refused.
        result: Result<(), String>,
    },
    /// The answer to `Deposit`: the ticket, or why the host refused the socket (it then
    /// closed its copy; the plugin's is still the plugin's).
    Deposited {
        /// The deposit's id.
        id: u64,
        /// The ticket or the refusal.
        result: Result<u64, String>,
    },
    /// The answer to `Take`: on `Ok` the socket is attached to this frame (`SCM_RIGHTS`,
    /// exactly one descriptor) and the bytes are those read ahead of it; `Err` says why there
    /// is none (a ticket never issued or taken already), with no descriptor attached.
    Taken {
        /// The take's id.
        id: u64,
        /// The bytes read ahead, or the refusal.
        result: Result<Vec<u8>, String>,
    },
}

impl EventToHost {
    /// How many descriptors travel with the message's frame.
    pub fn descriptors(&self) -> usize {
        usize::from(matches!(self, EventToHost::Deposit { .. }))
    }
}

impl EventToRunner {
    /// How many descriptors travel with the message's frame.
    pub fn descriptors(&self) -> usize {
        usize::from(matches!(self, EventToRunner::Taken { result: Ok(_), .. }))
    }
}

/// Why a posted call gave no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostFailure {
    /// The script function failed (rather than the post).
    pub script: bool,
    /// The message (a script error starts with its location).
    pub message: String,
}

mod tag {
    pub const POST: u8 = 1;
    pub const START_SERVICE: u8 = 2;
    pub const END_SERVICE: u8 = 3;
    pub const RELEASE: u8 = 4;
    pub const DEPOSIT: u8 = 5;
    pub const TAKE: u8 = 6;

    pub const POST_DONE: u8 = 101;
    pub const SERVICE_STARTED: u8 = 102;
    pub const DEPOSITED: u8 = 103;
    pub const TAKEN: u8 = 104;
}

impl EventToHost {
    /// Appends the message's encoding (without frame header) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut e = Encoder { out };
        match self {
            EventToHost::Post { id, function, args_json } => {
                e.byte(tag::POST);
                e.u64(*id);
                e.u64(*function);
                e.str(args_json);
            }
            EventToHost::StartService { id, name } => {
                e.byte(tag::START_SERVICE);
                e.u64(*id);
                e.str(name);
            }
            EventToHost::EndService { id } => {
                e.byte(tag::END_SERVICE);
                e.u64(*id);
            }
            EventToHost::Release { function } => {
                e.byte(tag::RELEASE);
                e.u64(*function);
            }
            EventToHost::Deposit { id, prefix } => {
                e.byte(tag::DEPOSIT);
                e.u64(*id);
                e.bytes(prefix);
            }
            EventToHost::Take { id, ticket } => {
                e.byte(tag::TAKE);
                e.u64(*id);
                e.u64(*ticket);
            }
        }
    }

    /// Decodes one message that fills `bytes` exactly.
    pub fn decode(bytes: &[u8]) -> Result<EventToHost, crate::DecodeError> {
        let mut d = Decoder::new(bytes);
        let message = EventToHost::decode_from(&mut d)?;
        d.finish()?;
        Ok(message)
    }

    fn decode_from(d: &mut Decoder<'_>) -> Decoded<EventToHost> {
        Ok(match d.byte()? {
            tag::POST => EventToHost::Post { id: d.u64()?, function: d.u64()?, args_json: d.str()? },
            tag::START_SERVICE => EventToHost::StartService { id: d.u64()?, name: d.str()? },
            tag::END_SERVICE => EventToHost::EndService { id: d.u64()? },
            tag::RELEASE => EventToHost::Release { function: d.u64()? },
            tag::DEPOSIT => EventToHost::Deposit { id: d.u64()?, prefix: d.bytes()? },
            tag::TAKE => EventToHost::Take { id: d.u64()?, ticket: d.u64()? },
            _ => return d.fail("unknown event message tag"),
        })
    }
}

impl EventToRunner {
    /// Appends the message's encoding (without frame header) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut e = Encoder { out };
        match self {
            EventToRunner::PostDone { id, result } => {
                e.byte(tag::POST_DONE);
                e.u64(*id);
                match result {
                    Ok(json) => {
                        e.byte(0);
                        e.str(json);
                    }
                    Err(failure) => {
                        e.byte(1);
                        e.bool(failure.script);
                        e.str(&failure.message);
                    }
                }
            }
            EventToRunner::ServiceStarted { id, result } => {
                e.byte(tag::SERVICE_STARTED);
                e.u64(*id);
                e.option_str(result.as_ref().err().map(String::as_str));
            }
            EventToRunner::Deposited { id, result } => {
                e.byte(tag::DEPOSITED);
                e.u64(*id);
                match result {
                    Ok(ticket) => {
                        e.byte(0);
                        e.u64(*ticket);
                    }
                    Err(message) => {
                        e.byte(1);
                        e.str(message);
                    }
                }
            }
            EventToRunner::Taken { id, result } => {
                e.byte(tag::TAKEN);
                e.u64(*id);
                match result {
                    Ok(prefix) => {
                        e.byte(0);
                        e.bytes(prefix);
                    }
                    Err(message) => {
                        e.byte(1);
                        e.str(message);
                    }
                }
            }
        }
    }

    /// Decodes one message that fills `bytes` exactly.
    pub fn decode(bytes: &[u8]) -> Result<EventToRunner, crate::DecodeError> {
        let mut d = Decoder::new(bytes);
        let message = EventToRunner::decode_from(&mut d)?;
        d.finish()?;
        Ok(message)
    }

    fn decode_from(d: &mut Decoder<'_>) -> Decoded<EventToRunner> {
        Ok(match d.byte()? {
            tag::POST_DONE => {
                let id = d.u64()?;
                let result = match d.byte()? {
                    0 => Ok(d.str()?),
                    1 => Err(PostFailure { script: d.bool()?, message: d.str()? }),
                    _ => return d.fail("invalid result tag"),
                };
                EventToRunner::PostDone { id, result }
            }
            tag::SERVICE_STARTED => {
                let id = d.u64()?;
                let result = match d.option_str()? {
                    None => Ok(()),
                    Some(message) => Err(message),
                };
                EventToRunner::ServiceStarted { id, result }
            }
            tag::DEPOSITED => {
                let id = d.u64()?;
                let result = match d.byte()? {
                    0 => Ok(d.u64()?),
                    1 => Err(d.str()?),
                    _ => return d.fail("invalid result tag"),
                };
                EventToRunner::Deposited { id, result }
            }
            tag::TAKEN => {
                let id = d.u64()?;
                let result = match d.byte()? {
                    0 => Ok(d.bytes()?),
                    1 => Err(d.str()?),
                    _ => return d.fail("invalid result tag"),
                };
                EventToRunner::Taken { id, result }
            }
            _ => return d.fail("unknown event message tag"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_message_round_trips() {
        let to_host = [
            EventToHost::Post { id: 7, function: 3, args_json: "[1,\"two\"]".into() },
            EventToHost::StartService { id: 1, name: "http 127.0.0.1:8080".into() },
            EventToHost::EndService { id: 1 },
            EventToHost::Release { function: 3 },
            EventToHost::Deposit { id: 4, prefix: vec![0, 255, b'G'] },
            EventToHost::Take { id: 5, ticket: u64::MAX },
        ];
        for message in to_host {
            let mut bytes = Vec::new();
            message.encode(&mut bytes);
            assert_eq!(EventToHost::decode(&bytes).unwrap(), message);
        }
        let to_runner = [
            EventToRunner::PostDone { id: 7, result: Ok("{\"a\":1}".into()) },
            EventToRunner::PostDone {
                id: 8,
                result: Err(PostFailure { script: true, message: "a.tsk:1:2: boom".into() }),
            },
            EventToRunner::ServiceStarted { id: 1, result: Ok(()) },
            EventToRunner::ServiceStarted { id: 2, result: Err("shutting down".into()) },
            EventToRunner::Deposited { id: 4, result: Ok(17) },
            EventToRunner::Deposited { id: 5, result: Err("not a socket".into()) },
            EventToRunner::Taken { id: 6, result: Ok(vec![1, 2, 3]) },
            EventToRunner::Taken { id: 7, result: Err("no connection was ever deposited under ticket 9".into()) },
        ];
        for message in to_runner {
            let mut bytes = Vec::new();
            message.encode(&mut bytes);
            assert_eq!(EventToRunner::decode(&bytes).unwrap(), message);
        }
    }

    #[test]
    fn truncated_and_unknown_event_messages_are_errors() {
        let mut bytes = Vec::new();
        EventToHost::Post { id: 7, function: 3, args_json: "[]".into() }.encode(&mut bytes);
        for cut in 0..bytes.len() {
            assert!(EventToHost::decode(&bytes[..cut]).is_err());
        }
        let mut bytes = Vec::new();
        EventToHost::Deposit { id: 1, prefix: b"ahead".to_vec() }.encode(&mut bytes);
        for cut in 0..bytes.len() {
            assert!(EventToHost::decode(&bytes[..cut]).is_err());
        }
        assert!(EventToHost::decode(&[99]).is_err());
        assert!(EventToRunner::decode(&[99]).is_err());
    }
}
