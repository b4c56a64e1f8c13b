//! The metrics themselves: families by name, each with one series per label set.
//!
//! Counters and gauges are prometheus-client's atomic types; histograms and summaries are kept
//! here (prometheus-client hides a histogram's buckets, which pushing and quantiles need, and
//! has no summary). Every series also keeps a short history of sampled values (for rates and
//! windows) and, when DogStatsD is configured, the observations since the last push.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, Instant};

use foldhash::HashMap;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tusk_plugin_sdk::PluginError;

/// A series' labels, sorted by name (so `{a, b}` and `{b, a}` are one series).
pub type Labels = Vec<(String, String)>;

/// Labels to find a series by, sorted by name: kept ones (`Labels`), or a call's as it reads
/// them (borrowed from the script's object, so that finding a known series allocates nothing).
pub trait LabelSet {
    /// How many labels.
    fn count(&self) -> usize;
    /// Label `index`'s name and value (`index < count()`).
    fn pair(&self, index: usize) -> (&str, &str);
    /// The labels as a series keeps them.
    fn to_labels(&self) -> Cow<'_, Labels>;
}

impl LabelSet for Labels {
    #[inline(always)]
    fn count(&self) -> usize {
        self.len()
    }

    #[inline(always)]
    fn pair(&self, index: usize) -> (&str, &str) {
        let (name, value) = &self[index];
        (name, value)
    }

    fn to_labels(&self) -> Cow<'_, Labels> {
        Cow::Borrowed(self)
    }
}

/// The four metric types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down, or is set.
    Gauge,
    /// Observations counted into buckets.
    Histogram,
    /// Observations kept for a while, reported as quantiles.
    Summary,
}

impl Kind {
    /// The names scripts use.
    pub const NAMES: &'static str = "counter, gauge, histogram or summary";

    /// `"counter"` → `Counter`.
    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "counter" => Some(Kind::Counter),
            "gauge" => Some(Kind::Gauge),
            "histogram" => Some(Kind::Histogram),
            "summary" => Some(Kind::Summary),
            _ => None,
        }
    }

    /// The OpenMetrics type name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

/// What the store is set up with (`[plugins.metrics]`).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Upper bounds of histograms that declare none (sorted, finite; +Inf is implied).
    pub buckets: Vec<f64>,
    /// The quantiles summaries report.
    pub quantiles: Vec<f64>,
    /// How long a summary keeps an observation.
    pub summary_max_age: Duration,
    /// How many observations a summary series keeps at most (the oldest go first).
    pub summary_max_samples: usize,
    /// How long sampled values are kept (the longest window of a rate).
    pub history: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            buckets: vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0],
            quantiles: vec![0.5, 0.9, 0.99],
            summary_max_age: Duration::from_secs(600),
            summary_max_samples: 10_000,
            history: Duration::from_secs(900),
        }
    }
}

/// Observations of one histogram series.
#[derive(Clone, Debug)]
pub struct HistogramData {
    /// Finite upper bounds, ascending; the last count is the +Inf bucket.
    pub bounds: Arc<[f64]>,
    /// Per bucket (not cumulative), `bounds.len() + 1` of them.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl HistogramData {
    fn new(bounds: Arc<[f64]>) -> HistogramData {
        let counts = vec![0; bounds.len() + 1];
        HistogramData { bounds, counts, sum: 0.0, count: 0 }
    }

    fn observe(&mut self, value: f64) {
        let index = self.bounds.partition_point(|bound| *bound < value);
        self.counts[index] += 1;
        self.sum += value;
        self.count += 1;
    }

    /// Adds another series' counts (same bounds) into this one.
    pub fn merge(&mut self, other: &HistogramData) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    /// The `q` quantile estimated from the buckets as Prometheus' `histogram_quantile` does:
    /// linear within the bucket the rank falls in (from 0 for the first bucket), and the
    /// highest finite bound when it falls in the +Inf bucket. `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q * self.count as f64;
        let mut cumulative = 0u64;
        for (index, count) in self.counts.iter().enumerate() {
            let before = cumulative;
            cumulative += count;
            if (cumulative as f64) >= rank && *count > 0 {
                let Some(&upper) = self.bounds.get(index) else {
                    return Some(self.bounds.last().copied().unwrap_or(f64::NAN));
                };
                let lower = if index == 0 { upper.min(0.0) } else { self.bounds[index - 1] };
                let within = (rank - before as f64) / *count as f64;
                return Some(lower + (upper - lower) * within);
            }
        }
        self.bounds.last().copied()
    }
}

/// Observations of one summary series: totals since the start, and the recent observations
/// its quantiles are computed from.
#[derive(Clone, Debug, Default)]
pub struct SummaryData {
    pub sum: f64,
    pub count: u64,
    pub window: VecDeque<(Instant, f64)>,
}

impl SummaryData {
    fn observe(&mut self, value: f64, now: Instant, max_samples: usize) {
        self.sum += value;
        self.count += 1;
        if self.window.len() >= max_samples.max(1) {
            self.window.pop_front();
        }
        self.window.push_back((now, value));
    }

    fn expire(&mut self, now: Instant, max_age: Duration) {
        while self.window.front().is_some_and(|(at, _)| now.saturating_duration_since(*at) > max_age) {
            self.window.pop_front();
        }
    }
}

/// The `q` quantile of `values` (sorted ascending), interpolated linearly between the two
/// nearest ranks; `None` for no values.
pub fn quantile_of_sorted(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let position = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let fraction = position - below as f64;
    Some(values[below] + (values[above] - values[below]) * fraction)
}

/// The value of one series.
#[derive(Debug)]
pub enum SeriesValue {
    Counter(Counter<f64, AtomicU64>),
    Gauge(Gauge<f64, AtomicU64>),
    Histogram(Mutex<HistogramData>),
    Summary(Mutex<SummaryData>),
}

/// One series: a value and what the background work keeps about it.
#[derive(Debug)]
pub struct Series {
    pub value: SeriesValue,
    /// Sampled values (counters, gauges) or counts (histograms, summaries), oldest first.
    history: Mutex<VecDeque<(Instant, f64)>>,
    /// Observations since the last DogStatsD push (only while DogStatsD is configured).
    pending: Mutex<Vec<f64>>,
    /// A counter's value at the last DogStatsD push (it sends the difference).
    pub statsd_sent: Mutex<f64>,
}

/// Most observations one series buffers between two DogStatsD pushes; beyond, they are
/// dropped (and counted) rather than growing without bound.
const MAX_PENDING: usize = 10_000;

impl Series {
    fn new(kind: Kind, bounds: &Arc<[f64]>, now: Instant) -> Series {
        let value = match kind {
            Kind::Counter => SeriesValue::Counter(Counter::default()),
            Kind::Gauge => SeriesValue::Gauge(Gauge::default()),
            Kind::Histogram => SeriesValue::Histogram(Mutex::new(HistogramData::new(bounds.clone()))),
            Kind::Summary => SeriesValue::Summary(Mutex::new(SummaryData::default())),
        };
        // A new counter (or observation count) starts at zero now: a rate over a window that
        // began before it counts from here. A gauge has no value before it is set.
        let history = if kind == Kind::Gauge { VecDeque::new() } else { VecDeque::from([(now, 0.0)]) };
        Series { value, history: Mutex::new(history), pending: Mutex::new(Vec::new()), statsd_sent: Mutex::new(0.0) }
    }

    /// The value a rate or a window looks at: a counter's or gauge's value, an observation
    /// count otherwise.
    pub fn level(&self) -> f64 {
        match &self.value {
            SeriesValue::Counter(counter) => counter.get(),
            SeriesValue::Gauge(gauge) => gauge.get(),
            SeriesValue::Histogram(data) => lock(data).count as f64,
            SeriesValue::Summary(data) => lock(data).count as f64,
        }
    }

    /// The sampled history (oldest first).
    pub fn history(&self) -> Vec<(Instant, f64)> {
        lock(&self.history).iter().copied().collect()
    }

    /// Takes the observations buffered for DogStatsD.
    pub fn take_pending(&self) -> Vec<f64> {
        std::mem::take(&mut *lock(&self.pending))
    }
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain numbers, still usable.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// All series of one name.
#[derive(Debug)]
pub struct Family {
    pub name: String,
    pub kind: Kind,
    pub help: Mutex<String>,
    pub bounds: Arc<[f64]>,
    pub series: RwLock<HashMap<Labels, Arc<Series>>>,
}

impl Family {
    /// The series, sorted by labels (the exposition and pushes list them in this order).
    pub fn sorted_series(&self) -> Vec<(Labels, Arc<Series>)> {
        let map = self.series.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut list: Vec<(Labels, Arc<Series>)> =
            map.iter().map(|(labels, series)| (labels.clone(), series.clone())).collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }
}

/// How many series a store remembers for good (the first ones used).
const REMEMBERED_MAX: usize = 16;
/// How many of the series used after those a store remembers as recently used.
const RECENT_MAX: usize = 16;

/// A series remembered as it was asked for (the name's bytes and the labels are compared,
/// never a pointer: the caller's string memory is reused from call to call).
#[derive(Debug)]
struct Recent {
    kind: Kind,
    name: Box<str>,
    labels: Labels,
    series: Arc<Series>,
}

impl Recent {
    #[inline(always)]
    fn is<L: LabelSet + ?Sized>(&self, name: &str, kind: Kind, labels: &L) -> bool {
        self.kind == kind && same_text(&self.name, name) && same_labels(&self.labels, labels)
    }
}

/// Equal texts, compared eight bytes at a time without calling the C library's `bcmp` (a
/// call through the library's offset table into a general routine, some twenty instructions
/// for a metric name's length on every increment).
#[inline(always)]
fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let word = |bytes: &[u8; 8]| u64::from_ne_bytes(*bytes);
    match (a.first_chunk::<8>(), a.last_chunk::<8>(), b.first_chunk::<8>(), b.last_chunk::<8>()) {
        // Eight to sixteen bytes (most metric names): the first eight and the last eight,
        // which overlap below sixteen.
        (Some(a_first), Some(a_last), Some(b_first), Some(b_last)) if a.len() <= 16 => {
            word(a_first) == word(b_first) && word(a_last) == word(b_last)
        }
        // Longer: every whole eight-byte word, then the last eight bytes.
        (Some(_), Some(a_last), Some(_), Some(b_last)) => {
            let (a_words, _) = a.as_chunks::<8>();
            let (b_words, _) = b.as_chunks::<8>();
            word(a_last) == word(b_last) && a_words.iter().zip(b_words).all(|(a, b)| word(a) == word(b))
        }
        _ => a.iter().zip(b).all(|(a, b)| a == b),
    }
}

#[inline(always)]
fn same_labels<L: LabelSet + ?Sized>(kept: &Labels, asked: &L) -> bool {
    // A loop rather than `all`, whose `try_fold` was called even for no labels.
    if kept.len() != asked.count() {
        return false;
    }
    for (index, (name, value)) in kept.iter().enumerate() {
        let (asked_name, asked_value) = asked.pair(index);
        if !(same_text(name, asked_name) && same_text(value, asked_value)) {
            return false;
        }
    }
    true
}

/// Every metric of one plugin instance.
#[derive(Debug)]
pub struct Store {
    /// The first series used, remembered for good. Scripts call the plugin from the
    /// interpreter's one thread, usually with a few metrics in a loop: finding the series here
    /// (a short scan of string comparisons) saves hashing the name and labels and taking two
    /// read locks. Each slot is written once and then only read, so finding a series here
    /// takes no lock at all (a slot being written by another thread reads as empty). Series
    /// are never removed from a store, so a remembered one stays the right one.
    remembered: [OnceLock<Recent>; REMEMBERED_MAX],
    /// The series used last once `remembered` is full, under an uncontended lock (`try_lock`:
    /// another thread's use is not waited for). A store's own list rather than a thread-local
    /// one: a thread-local of a plugin library is reached through `__tls_get_addr` on every
    /// call.
    recent: Mutex<Vec<Recent>>,
    families: RwLock<HashMap<String, Arc<Family>>>,
    pub settings: Settings,
    default_bounds: Arc<[f64]>,
    /// True while DogStatsD is configured: histogram and summary observations are buffered.
    buffer_observations: AtomicBool,
    /// Observations dropped because a series' buffer was full.
    pub dropped: AtomicU64,
}

impl Store {
    pub fn new(settings: Settings) -> Store {
        let default_bounds: Arc<[f64]> = settings.buckets.clone().into();
        Store {
            remembered: std::array::from_fn(|_| OnceLock::new()),
            recent: Mutex::new(Vec::new()),
            families: RwLock::new(HashMap::default()),
            settings,
            default_bounds,
            buffer_observations: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        }
    }

    /// Buffers histogram and summary observations for DogStatsD from now on.
    pub fn buffer_observations(&self) {
        self.buffer_observations.store(true, Ordering::Relaxed);
    }

    /// The families, sorted by name.
    pub fn sorted_families(&self) -> Vec<Arc<Family>> {
        let map = self.families.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut list: Vec<Arc<Family>> = map.values().cloned().collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// The family called `name`, if any.
    pub fn get(&self, name: &str) -> Option<Arc<Family>> {
        let map = self.families.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(family_name(name)).cloned()
    }

    /// Declares a family (or updates its help); `bounds` only for histograms, and only before
    /// the histogram has series.
    pub fn declare(&self, name: &str, kind: Kind, help: &str, bounds: Option<Vec<f64>>) -> Result<(), PluginError> {
        if bounds.is_some() && kind != Kind::Histogram {
            return Err(PluginError::message(format!("buckets are for histograms; `{name}` is a {}", kind.name())));
        }
        let family = self.family(name, kind, bounds.as_ref())?;
        if let Some(bounds) = bounds
            && *family.bounds != *bounds
        {
            return Err(PluginError::message(format!(
                "the histogram `{}` already has the buckets {:?}; buckets are fixed when a histogram is first used",
                family.name, family.bounds
            )));
        }
        *lock(&family.help) = help.to_string();
        Ok(())
    }

    /// The family `name` of `kind`, created if missing; an error if it has another kind.
    fn family(&self, name: &str, kind: Kind, bounds: Option<&Vec<f64>>) -> Result<Arc<Family>, PluginError> {
        let name = family_name(name);
        {
            let map = self.families.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(family) = map.get(name) {
                return check_kind(family, kind).map(|()| family.clone());
            }
        }
        check_metric_name(name)?;
        let bounds: Arc<[f64]> = match bounds {
            Some(bounds) => check_bounds(bounds)?.into(),
            None => self.default_bounds.clone(),
        };
        let mut map = self.families.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let family = map.entry(name.to_string()).or_insert_with(|| {
            Arc::new(Family {
                name: name.to_string(),
                kind,
                help: Mutex::new(String::new()),
                bounds,
                series: RwLock::new(HashMap::default()),
            })
        });
        check_kind(family, kind)?;
        Ok(family.clone())
    }

    /// Runs `action` on the series `name{labels}` of `kind`, creating family and series as
    /// needed. A series used first or recently is found in the store's short lists; otherwise
    /// the common case (both exist) takes two read locks and no allocation.
    #[inline(always)]
    pub fn with_series<L: LabelSet + ?Sized, R>(
        &self,
        name: &str,
        kind: Kind,
        labels: &L,
        action: impl FnOnce(&Series) -> R,
    ) -> Result<R, PluginError> {
        // Slots fill in order and are never emptied: the first empty one ends the scan.
        for slot in &self.remembered {
            let Some(entry) = slot.get() else { break };
            if entry.is(name, kind, labels) {
                return Ok(action(&entry.series));
            }
        }
        let series = self.unremembered_series(name, kind, labels)?;
        Ok(action(&series))
    }

    /// `with_series`' series when it is not one of the remembered ones: from the recent list
    /// or the maps, then remembered (in a free slot, or else as the most recent).
    #[inline(never)]
    fn unremembered_series<L: LabelSet + ?Sized>(
        &self,
        name: &str,
        kind: Kind,
        labels: &L,
    ) -> Result<Arc<Series>, PluginError> {
        // Another thread using the list (a rare, short overlap) is not waited for: the maps
        // answer without it.
        let mut recent = match self.recent.try_lock() {
            Ok(recent) => Some(recent),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        if let Some(recent) = &recent
            && let Some(hit) = recent.iter().find(|entry| entry.is(name, kind, labels))
        {
            return Ok(hit.series.clone());
        }
        let labels = labels.to_labels();
        let series = self.find_or_create(name, kind, &labels)?;
        let entry = Recent { kind, name: name.into(), labels: labels.into_owned(), series: series.clone() };
        // Two threads may fill the same slot at once: the one that loses keeps its entry in
        // the recent list.
        let entry = match self.remembered.iter().find(|slot| slot.get().is_none()) {
            Some(slot) => match slot.set(entry) {
                Ok(()) => return Ok(series),
                Err(entry) => entry,
            },
            None => entry,
        };
        if let Some(recent) = &mut recent {
            if recent.len() >= RECENT_MAX {
                recent.remove(0);
            }
            recent.push(entry);
        }
        Ok(series)
    }

    fn find_or_create(&self, name: &str, kind: Kind, labels: &Labels) -> Result<Arc<Series>, PluginError> {
        {
            let map = self.families.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(family) = map.get(family_name(name)) {
                check_kind(family, kind)?;
                let series = family.series.read().unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Some(series) = series.get(labels) {
                    return Ok(series.clone());
                }
            }
        }
        let family = self.family(name, kind, None)?;
        let mut map = family.series.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let series =
            map.entry(labels.clone()).or_insert_with(|| Arc::new(Series::new(kind, &family.bounds, Instant::now())));
        Ok(series.clone())
    }

    /// Adds `by` (≥ 0) to a counter; returns its new value.
    #[inline]
    pub fn increment<L: LabelSet + ?Sized>(&self, name: &str, by: f64, labels: &L) -> Result<f64, PluginError> {
        // A range test (NaN is in none): written as `by >= 0.0 && by.is_finite()` it compiled
        // to a float classification of some thirty instructions on every increment.
        if !(0.0..f64::INFINITY).contains(&by) {
            return Err(not_an_increment(name, by));
        }
        self.with_series(
            name,
            Kind::Counter,
            labels,
            #[inline(always)]
            |series| match &series.value {
                SeriesValue::Counter(counter) => add_to(counter.inner(), by),
                _ => unreachable_kind(),
            },
        )
    }

    /// Adds `by` (any sign) to a gauge; returns its new value.
    #[inline]
    pub fn gauge_add<L: LabelSet + ?Sized>(&self, name: &str, by: f64, labels: &L) -> Result<f64, PluginError> {
        check_finite(name, by)?;
        self.with_series(name, Kind::Gauge, labels, |series| match &series.value {
            SeriesValue::Gauge(gauge) => add_to(gauge.inner(), by),
            _ => unreachable_kind(),
        })
    }

    /// Sets a gauge; returns the value.
    #[inline]
    pub fn gauge_set<L: LabelSet + ?Sized>(&self, name: &str, value: f64, labels: &L) -> Result<f64, PluginError> {
        check_finite(name, value)?;
        self.with_series(name, Kind::Gauge, labels, |series| match &series.value {
            SeriesValue::Gauge(gauge) => {
                gauge.set(value);
                value
            }
            _ => unreachable_kind(),
        })
    }

    /// Records one observation in a histogram or a summary.
    #[inline]
    pub fn observe<L: LabelSet + ?Sized>(
        &self,
        name: &str,
        kind: Kind,
        value: f64,
        labels: &L,
    ) -> Result<(), PluginError> {
        check_finite(name, value)?;
        let buffer = self.buffer_observations.load(Ordering::Relaxed);
        let max_samples = self.settings.summary_max_samples;
        self.with_series(name, kind, labels, |series| {
            match &series.value {
                SeriesValue::Histogram(data) => lock(data).observe(value),
                SeriesValue::Summary(data) => lock(data).observe(value, Instant::now(), max_samples),
                _ => unreachable_kind(),
            }
            if buffer {
                let mut pending = lock(&series.pending);
                if pending.len() < MAX_PENDING {
                    pending.push(value);
                } else {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    }

    /// Records every series' level in its history and forgets what is older than the
    /// history; drops summary observations older than their maximum age.
    pub fn sample(&self, now: Instant) {
        let keep = self.settings.history;
        for family in self.sorted_families() {
            let map = family.series.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            for series in map.values() {
                if let SeriesValue::Summary(data) = &series.value {
                    lock(data).expire(now, self.settings.summary_max_age);
                }
                let level = series.level();
                let mut history = lock(&series.history);
                // Keep one sample older than the history so a window as long as the history
                // still has a start.
                while history.len() > 1
                    && history.get(1).is_some_and(|(at, _)| now.saturating_duration_since(*at) > keep)
                {
                    history.pop_front();
                }
                history.push_back((now, level));
            }
        }
    }

    /// A summary's current quantiles (after dropping observations past their age).
    pub fn summary_quantiles(&self, data: &Mutex<SummaryData>) -> (f64, u64, Vec<(f64, f64)>) {
        let mut data = lock(data);
        data.expire(Instant::now(), self.settings.summary_max_age);
        let mut values: Vec<f64> = data.window.iter().map(|(_, value)| *value).collect();
        values.sort_by(f64::total_cmp);
        let quantiles =
            self.settings.quantiles.iter().map(|&q| (q, quantile_of_sorted(&values, q).unwrap_or(f64::NAN))).collect();
        (data.sum, data.count, quantiles)
    }
}

/// Adds `by` to the `f64` whose bits `atomic` holds; returns the sum. prometheus-client's
/// `inc_by` does the same, but as a call into that crate on every increment (not inlined).
#[inline(always)]
fn add_to(atomic: &AtomicU64, by: f64) -> f64 {
    let mut old = atomic.load(Ordering::Relaxed);
    loop {
        let sum = f64::from_bits(old) + by;
        match atomic.compare_exchange_weak(old, sum.to_bits(), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return sum,
            Err(now) => old = now,
        }
    }
}

/// A counter's family name: `requests_total` and `requests` are one counter (OpenMetrics
/// names the family without `_total` and adds it to the sample).
fn family_name(name: &str) -> &str {
    name.strip_suffix("_total").filter(|stem| !stem.is_empty()).unwrap_or(name)
}

fn check_kind(family: &Family, kind: Kind) -> Result<(), PluginError> {
    if family.kind == kind {
        return Ok(());
    }
    Err(PluginError::message(format!(
        "`{}` is a {}; it cannot be used as a {}",
        family.name,
        family.kind.name(),
        kind.name()
    ))
    .with_help("a metric keeps the type it was first used with; give the other one another name"))
}

/// A counter's increment that is negative, infinite or NaN.
#[cold]
fn not_an_increment(name: &str, by: f64) -> PluginError {
    PluginError::message(format!("a counter only goes up: increment `{name}` by a finite number ≥ 0, not {by}"))
        .with_help("use a gauge for a value that goes down")
}

#[inline]
fn check_finite(name: &str, value: f64) -> Result<(), PluginError> {
    if value.is_finite() {
        return Ok(());
    }
    Err(not_finite(name, value))
}

#[cold]
fn not_finite(name: &str, value: f64) -> PluginError {
    PluginError::message(format!("`{name}`: the value must be a finite number, not {value}"))
}

/// Checks an OpenMetrics metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn check_metric_name(name: &str) -> Result<(), PluginError> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_' || first == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if valid {
        return Ok(());
    }
    Err(PluginError::message(format!(
        "`{name}` is not a valid metric name: use letters, digits, `_` and `:`, not starting with a digit"
    ))
    .with_help("for example `http_requests` or `queue_depth`"))
}

/// Checks a label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
pub fn check_label_name(name: &str) -> Result<(), PluginError> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__");
    let reserved = matches!(name, "le" | "quantile");
    if valid && !reserved {
        return Ok(());
    }
    Err(PluginError::message(if reserved {
        format!("the label name `{name}` is reserved for histogram buckets and summary quantiles")
    } else {
        format!("`{name}` is not a valid label name: use letters, digits and `_`, not starting with a digit or `__`")
    }))
}

/// Checks histogram bounds: finite, strictly ascending, at least one.
fn check_bounds(bounds: &[f64]) -> Result<Vec<f64>, PluginError> {
    if bounds.is_empty() {
        return Err(PluginError::message("a histogram needs at least one bucket bound"));
    }
    if bounds.iter().any(|bound| !bound.is_finite()) {
        return Err(PluginError::message("bucket bounds must be finite (+Inf is always added)"));
    }
    if bounds.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(PluginError::message(format!("bucket bounds must be strictly ascending, got {bounds:?}")));
    }
    Ok(bounds.to_vec())
}

/// A family's series always match its kind (checked before `with_series` runs the action).
fn unreachable_kind() -> ! {
    unreachable!("a series of another kind than its family")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_interpolate_within_buckets() {
        let mut data = HistogramData::new(vec![1.0, 2.0, 4.0].into());
        for value in [0.5, 1.5, 1.5, 3.0] {
            data.observe(value);
        }
        assert_eq!(data.counts, vec![1, 2, 1, 0]);
        assert_eq!(data.quantile(0.25), Some(1.0));
        assert_eq!(data.quantile(0.5), Some(1.5));
        assert_eq!(data.quantile(1.0), Some(4.0));
        data.observe(100.0);
        assert_eq!(data.quantile(1.0), Some(4.0), "the +Inf bucket reports the highest finite bound");
        assert_eq!(HistogramData::new(vec![1.0].into()).quantile(0.5), None);
    }

    #[test]
    fn exact_quantiles_interpolate_between_ranks() {
        let values = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_of_sorted(&values, 0.0), Some(1.0));
        assert_eq!(quantile_of_sorted(&values, 0.5), Some(2.5));
        assert_eq!(quantile_of_sorted(&values, 1.0), Some(4.0));
        assert_eq!(quantile_of_sorted(&[], 0.5), None);
    }

    #[test]
    fn names_are_checked() {
        assert!(check_metric_name("http_requests:rate5m").is_ok());
        assert_eq!(
            check_metric_name("http.requests").unwrap_err().to_string(),
            "`http.requests` is not a valid metric name: use letters, digits, `_` and `:`, not starting with a digit"
        );
        assert!(check_metric_name("9lives").is_err());
        assert!(check_label_name("method").is_ok());
        assert!(check_label_name("__name__").is_err());
        assert!(check_label_name("le").is_err());
    }

    #[test]
    fn a_counter_is_one_family_with_or_without_total_and_keeps_its_kind() {
        let store = Store::new(Settings::default());
        assert_eq!(store.increment("jobs_total", 2.0, &Vec::new()).unwrap(), 2.0);
        assert_eq!(store.increment("jobs", 1.5, &Vec::new()).unwrap(), 3.5);
        let error = store.gauge_set("jobs", 1.0, &Vec::new()).unwrap_err();
        assert_eq!(error.to_string(), "`jobs` is a counter; it cannot be used as a gauge");
        let error = store.increment("jobs", -1.0, &Vec::new()).unwrap_err();
        assert_eq!(error.to_string(), "a counter only goes up: increment `jobs` by a finite number ≥ 0, not -1");
    }

    #[test]
    fn texts_compare_by_content_at_every_length() {
        let text = "abcdefghijklmnopqrstuvwxyz0123456789";
        for length in 0..=text.len() {
            let same = text[..length].to_string();
            assert!(same_text(&text[..length], &same), "{length}");
            for index in 0..length {
                let mut other = same.clone().into_bytes();
                other[index] = b'_';
                let other = String::from_utf8(other).unwrap();
                assert!(!same_text(&same, &other), "{length} differing at {index}");
            }
        }
        assert!(!same_text("requests", "requests_total"));
    }

    /// Labels of the store's own type and a caller's find the same series.
    struct Borrowed<'a>(Vec<(&'a str, &'a str)>);

    impl LabelSet for Borrowed<'_> {
        fn count(&self) -> usize {
            self.0.len()
        }

        fn pair(&self, index: usize) -> (&str, &str) {
            self.0[index]
        }

        fn to_labels(&self) -> Cow<'_, Labels> {
            Cow::Owned(self.0.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect())
        }
    }

    #[test]
    fn series_past_the_remembered_ones_are_still_found_and_counted() {
        let store = Store::new(Settings::default());
        let count = REMEMBERED_MAX + 2 * RECENT_MAX + 3;
        for round in 1..=3 {
            for index in 0..count {
                let value = index.to_string();
                let total = if index % 2 == 0 {
                    store.increment("jobs", 1.0, &vec![("worker".to_string(), value)]).unwrap()
                } else {
                    store.increment("jobs", 1.0, &Borrowed(vec![("worker", &value)])).unwrap()
                };
                assert_eq!(total, f64::from(round), "series {index}, round {round}");
            }
            assert_eq!(store.increment("jobs", 0.0, &Borrowed(vec![("worker", "0")])).unwrap(), f64::from(round));
        }
        let family = store.get("jobs").unwrap();
        let series = family.sorted_series();
        assert_eq!(series.len(), count);
        assert!(series.iter().all(|(_, series)| series.level() == 3.0));
        let error = store.gauge_set("jobs", 1.0, &Borrowed(vec![("worker", "0")])).unwrap_err();
        assert_eq!(error.to_string(), "`jobs` is a counter; it cannot be used as a gauge");
    }

    #[test]
    fn increments_from_several_threads_all_count() {
        let store = Store::new(Settings::default());
        let threads = 4;
        let rounds = 2_000;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    for round in 0..rounds {
                        // More series than are remembered, so that threads fill slots and
                        // the recent list at the same time.
                        let name = format!("m{}", round % (REMEMBERED_MAX + 8));
                        store.increment(&name, 1.0, &Vec::new()).unwrap();
                    }
                });
            }
        });
        let total: f64 =
            store.sorted_families().iter().flat_map(|family| family.sorted_series()).map(|(_, s)| s.level()).sum();
        assert_eq!(total, (threads * rounds) as f64);
    }
}
