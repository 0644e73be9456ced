//! An external sort of fixed-size records: joins over more rows than
//! should be held (10 million vault reads against 10 million workspace
//! events) keep one run in memory, write sorted runs to unnamed temporary
//! files and merge them back in order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

/// A record the sorter can write and read back as `SIZE` bytes.
pub trait Record: Ord + Copy {
    const SIZE: usize;
    fn put(&self, out: &mut Vec<u8>);
    fn get(b: &[u8]) -> Self;
}

/// Records held until `cap`, then sorted and written out as one run.
pub struct Sorter<T: Record> {
    buf: Vec<T>,
    cap: usize,
    runs: Vec<File>,
    len: u64,
}

/// Records per run when none is given: 1 Mi records (16 to 32 MiB).
pub const RUN: usize = 1 << 20;

impl<T: Record> Sorter<T> {
    /// A sorter holding at most `cap` records in memory (at least 1).
    pub fn new(cap: usize) -> Self {
        Sorter {
            buf: Vec::new(),
            cap: cap.max(1),
            runs: Vec::new(),
            len: 0,
        }
    }

    pub fn push(&mut self, t: T) -> io::Result<()> {
        self.buf.push(t);
        self.len += 1;
        if self.buf.len() >= self.cap {
            self.spill()?;
        }
        Ok(())
    }

    /// Records pushed.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Runs written to disk so far.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    fn spill(&mut self) -> io::Result<()> {
        self.buf.sort_unstable();
        let mut f = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
        let mut bytes = Vec::with_capacity(T::SIZE);
        for t in &self.buf {
            bytes.clear();
            t.put(&mut bytes);
            f.write_all(&bytes)?;
        }
        let mut f = f.into_inner().map_err(io::IntoInnerError::into_error)?;
        f.rewind()?;
        self.runs.push(f);
        self.buf.clear();
        Ok(())
    }

    /// Every record pushed, in order.
    pub fn finish(mut self) -> io::Result<Sorted<T>> {
        if self.runs.is_empty() {
            self.buf.sort_unstable();
            return Ok(Sorted {
                mem: self.buf.into_iter(),
                readers: Vec::new(),
                heap: BinaryHeap::new(),
                scratch: Vec::new(),
            });
        }
        if !self.buf.is_empty() {
            self.spill()?;
        }
        let mut sorted = Sorted {
            mem: Vec::new().into_iter(),
            readers: self
                .runs
                .into_iter()
                .map(|f| BufReader::with_capacity(1 << 16, f))
                .collect(),
            heap: BinaryHeap::new(),
            scratch: vec![0; T::SIZE],
        };
        for i in 0..sorted.readers.len() {
            if let Some(t) = sorted.next_of(i)? {
                sorted.heap.push(Reverse((t, i)));
            }
        }
        Ok(sorted)
    }
}

/// The records of a [`Sorter`], in order: from memory when they fit in
/// one run, else merged from the runs on disk.
pub struct Sorted<T: Record> {
    mem: std::vec::IntoIter<T>,
    readers: Vec<BufReader<File>>,
    heap: BinaryHeap<Reverse<(T, usize)>>,
    scratch: Vec<u8>,
}

impl<T: Record> Sorted<T> {
    fn next_of(&mut self, i: usize) -> io::Result<Option<T>> {
        let r = &mut self.readers[i];
        match r.read_exact(&mut self.scratch) {
            Ok(()) => Ok(Some(T::get(&self.scratch))),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl<T: Record> Iterator for Sorted<T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<io::Result<T>> {
        if self.readers.is_empty() {
            return self.mem.next().map(Ok);
        }
        let Reverse((t, i)) = self.heap.pop()?;
        match self.next_of(i) {
            Ok(Some(n)) => self.heap.push(Reverse((n, i))),
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
        Some(Ok(t))
    }
}

/// Reads a little-endian u64 at `at`.
pub fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Reads a little-endian u32 at `at`.
pub fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct R(u64, u32);

    impl Record for R {
        const SIZE: usize = 12;
        fn put(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0.to_le_bytes());
            out.extend_from_slice(&self.1.to_le_bytes());
        }
        fn get(b: &[u8]) -> Self {
            R(u64_at(b, 0), u32_at(b, 8))
        }
    }

    fn sorted(cap: usize, items: &[R]) -> (Vec<R>, usize) {
        let mut s = Sorter::new(cap);
        for r in items {
            s.push(*r).unwrap();
        }
        let runs = s.runs();
        (s.finish().unwrap().map(Result::unwrap).collect(), runs)
    }

    #[test]
    fn runs_on_disk_merge_to_the_same_order_as_memory() {
        // A deterministic shuffle with repeats.
        let items: Vec<R> = (0..1000u64)
            .map(|i| R((i * 7919) % 101, (i % 13) as u32))
            .collect();
        let mut want = items.clone();
        want.sort();
        let (mem, runs) = sorted(10_000, &items);
        assert_eq!(runs, 0);
        assert_eq!(mem, want);
        for cap in [1, 3, 64, 999] {
            let (disk, runs) = sorted(cap, &items);
            assert!(runs >= 1000 / cap, "cap {cap}: {runs} runs");
            assert_eq!(disk, want, "cap {cap}");
        }
        assert!(sorted(5, &[]).0.is_empty());
    }
}
