//! How events flow from the readers to the folds: the [`Sink`] every
//! command's fold implements, the [`ThreadFold`] a parsing thread keeps of
//! it, and which event [`Fields`] a command needs read.

use crate::error::{Error, Result};
use crate::event::Event;

/// Which fields of each event a command uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fields {
    /// Every field (`events`, `token --logs`).
    #[default]
    Full,
    /// What `explain`, `token --logs` and `report --assignments` read:
    /// everything but the request URI, result signature and appidacr, and
    /// the correlation id but for AzureDatabricks (its reads are told apart
    /// by it).
    Analysis,
    /// What the caller inventory needs (identity, vault, object, operation,
    /// status, client, time): no correlation id, which a lakehouse table
    /// holds as its largest column.
    Callers,
    /// What `access`, `rights`, `plan-rbac`, `attribute` and `callers
    /// --databricks` read: [`Fields::Callers`] plus the resource id (the
    /// vault's scope) and the correlation ids of AzureDatabricks reads.
    Usage,
    /// What `report` reads (but with assignments to judge):
    /// [`Fields::Analysis`] for failed requests, for successful ones
    /// [`Fields::Callers`] and their client addresses (it folds no more of
    /// them; the explanation of denials needs the rest), and no correlation
    /// id: only `--databricks` needs them ([`Fields::ReportDatabricks`]).
    Report,
    /// `report --databricks`: [`Fields::Report`] and the correlation ids
    /// of AzureDatabricks reads.
    ReportDatabricks,
}

/// Where normalised events go: a vector (commands that need every event)
/// or a fold that keeps only aggregates (memory flat in the input size).
pub trait Sink {
    /// Takes one event; an error (writing it out failed) stops the reading.
    fn event(&mut self, e: Event) -> Result<()>;

    /// A fold of its own for one parsing thread, merged back with
    /// [`Sink::join`]. Only sinks whose result does not depend on how the
    /// events are split between threads offer one (events still arrive at
    /// each part in input order, with their place in the input as `order`);
    /// the others see every event on the calling thread.
    fn fork(&mut self) -> Option<Box<dyn ThreadFold>> {
        None
    }

    /// Merges back a part made by [`Sink::fork`], once its thread is done.
    fn join(&mut self, _part: Box<dyn ThreadFold>) -> Result<()> {
        Ok(())
    }

    /// An event a part folded and passed on, in input order: the work that
    /// needs every event in order.
    fn forwarded(&mut self, e: Event) -> Result<()> {
        self.event(e)
    }

    /// The part this sink folds into, lent to a parser on the same thread
    /// that folds the events of one input into it directly (a file worker
    /// reading a small file whole), ordered by the input's place; given
    /// back with [`Sink::give_back`]. Only a file worker's sink lends one.
    fn lend(&mut self) -> Option<Box<dyn ThreadFold>> {
        None
    }

    /// Takes back the part [`Sink::lend`] lent.
    fn give_back(&mut self, _part: Box<dyn ThreadFold>) {}
}

/// Takes back a part as the type its sink made it.
pub fn take_part<T: 'static>(part: Box<dyn ThreadFold>) -> Result<T> {
    part.into_any()
        .downcast::<T>()
        .map(|p| *p)
        .map_err(|_| Error::Other("internal error: a part of another fold".into()))
}

/// One parsing thread's share of a [`Sink`] (see [`Sink::fork`]).
pub trait ThreadFold: Send {
    /// Takes one event; `order` grows with the event's place in the input
    /// (comparable across parts), for folds that keep a first value.
    /// Whether the sink's ordered side must see it too
    /// ([`Sink::forwarded`]). By reference: most events are only folded,
    /// and an event is large enough for moves to cost.
    fn add(&mut self, e: &Event, order: u64) -> bool;
    /// Whether the part folds many like events at once
    /// ([`ThreadFold::add_like`]): only parts that never pass an event on
    /// and use no field that differs between them (a columnar reader then
    /// normalises each distinct row once).
    fn takes_like(&self) -> bool {
        false
    }
    /// Folds `n` events that are all `e` but for their times and places in
    /// the input: `times` are the earliest and latest of their times (in
    /// microseconds), `orders` the first and last of their orders. Only
    /// called when [`ThreadFold::takes_like`] says so.
    fn add_like(&mut self, _e: &Event, _n: u64, _times: (i64, i64), _orders: (u64, u64)) {}
    /// Folds events that are all `e` but for their [`Occurrence`]s
    /// (`rows`, in input order, their orders as [`ThreadFold::add`]
    /// takes them), when the part would only fold each of them, never
    /// pass one on: true when it did, false (and `rows` untouched) to
    /// have them added one by one. A columnar reader's rows alike.
    ///
    /// [`Occurrence`]: crate::event::Occurrence
    fn add_rows(&mut self, _e: &Event, _rows: &mut Vec<crate::event::Occurrence>) -> bool {
        false
    }
    /// Whether [`ThreadFold::add_rows`] would take rows of events like
    /// `e` (asked before they are gathered).
    fn takes_rows(&self, _e: &Event) -> bool {
        false
    }
    /// Called on the part's thread once it has every event it will get:
    /// what is left to fold is best folded there, not where parts are
    /// joined one after another.
    fn done(&mut self) {}
    /// Called on the part's thread between pieces of the input (blocks,
    /// row groups, batches of files), once the results of the piece before
    /// are sent: work put off until then (folding held events) keeps no
    /// other thread waiting for this one's piece. A part wrapping another
    /// passes it on.
    fn between(&mut self) {}
    /// The part as `Any`, for the sink to take back its own type.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any>;
}

impl Sink for Vec<Event> {
    fn event(&mut self, e: Event) -> Result<()> {
        self.push(e);
        Ok(())
    }
}
