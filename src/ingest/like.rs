//! Finds the rows of a columnar row group that are alike (equal in every
//! column a command reads but the time), so that a fold that only counts,
//! collects and takes extremes (`callers`) normalises each distinct row
//! once and folds its rows at once, and a fold that needs every event
//! (`report`) takes each row as its distinct row's event with the row's
//! own time: a lakehouse table then costs a hash of each row's column
//! values rather than normalising each row.

/// Rows alike: the first and last (their indices in the row group), how
/// many, and the earliest and latest of their times (microseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Like {
    pub first: usize,
    pub last: usize,
    pub n: u64,
    pub times: (i64, i64),
}

/// The most distinct rows worth grouping `rows` rows: past three in four,
/// grouping costs more than it saves (measured on the heavy mix, 36%
/// distinct, where `callers` took 0.31 s grouped and 0.44 s row by row).
/// Each distinct row's event is held while its row group is read: at most
/// [`MOST`] for a fold that takes each row, [`MOST_AT_ONCE`] for one that
/// takes them at once (its memory as when it grouped at most a quarter of
/// a 262,144-row group).
pub(super) fn most(rows: usize, at_once: bool) -> usize {
    (rows / 4 * 3 + 16).min(if at_once { MOST_AT_ONCE } else { MOST })
}

/// Distinct rows' events held at most (a row group can be of any size).
const MOST: usize = 1 << 18;
const MOST_AT_ONCE: usize = 1 << 16;

/// Rows keyed at a time (their keys stay in the caches).
const CHUNK: usize = 2048;

/// Groups `rows` rows by their keys, in the order of their first rows:
/// `fill(column, rows, keys)` writes one of the `width` key columns' values
/// for each of `rows` (equal keys must mean equal values; false when a row
/// cannot be keyed), `time(row)` a row's time. None when a row cannot be
/// keyed or has no time, or when more than `most` rows are distinct.
/// `of_row` is filled with each row's group (its index in the result).
///
/// Keys are filled and hashed a column at a time (each column's values
/// written and read in order, not scattered across rows); a row is then
/// compared with a group's key value by value.
pub(super) fn group(
    rows: usize,
    width: usize,
    mut fill: impl FnMut(usize, std::ops::Range<usize>, &mut [u128]) -> bool,
    time: impl Fn(usize) -> Option<i64>,
    of_row: &mut Vec<u32>,
    most: usize,
) -> Option<Vec<Like>> {
    of_row.clear();
    of_row.reserve(rows);
    let mut table: hashbrown::HashTable<usize> = hashbrown::HashTable::new();
    // The key of each group, `width` values each, and its hash.
    let mut known: Vec<u128> = Vec::new();
    let mut hashes: Vec<u64> = Vec::new();
    let mut likes: Vec<Like> = Vec::new();
    // A chunk's keys, a column after another, and each row's hash.
    let mut chunk = vec![0u128; CHUNK * width];
    let mut hashed = [0u64; CHUNK];
    let mut start = 0;
    while start < rows {
        let end = (start + CHUNK).min(rows);
        let n = end - start;
        hashed[..n].fill(SEED);
        for (column, keys) in chunk.chunks_exact_mut(CHUNK).enumerate() {
            let keys = &mut keys[..n];
            if !fill(column, start..end, keys) {
                return None;
            }
            for (h, k) in hashed.iter_mut().zip(keys.iter()) {
                *h = mix(*h, *k);
            }
        }
        for (i, row) in (start..end).enumerate() {
            let t = time(row)?;
            let h = mix(hashed[i], u128::from(SEED));
            let same = |g: &usize| {
                let Some(key) = known.get(g * width..(g + 1) * width) else {
                    return false;
                };
                key.iter()
                    .zip(chunk.chunks_exact(CHUNK))
                    .all(|(k, column)| column.get(i) == Some(k))
            };
            if let Some(&g) = table.find(h, same) {
                // Fewer groups than rows, and row groups hold far fewer
                // than 2^32 rows.
                of_row.push(g as u32);
                let l = &mut likes[g];
                l.last = row;
                l.n += 1;
                l.times = (l.times.0.min(t), l.times.1.max(t));
                continue;
            }
            if likes.len() >= most {
                return None;
            }
            of_row.push(likes.len() as u32);
            known.extend(chunk.chunks_exact(CHUNK).map(|column| column[i]));
            hashes.push(h);
            table.insert_unique(h, likes.len(), |g| hashes[*g]);
            likes.push(Like {
                first: row,
                last: row,
                n: 1,
                times: (t, t),
            });
        }
        start = end;
    }
    Some(likes)
}

/// Where every row's hash starts, and what ends it (any constant).
const SEED: u64 = 0x243f_6a88_85a3_08d3;

/// A hash `h` taking in one more key value: a folded multiply (as
/// foldhash's), the value's halves mixed with `h` and a constant.
fn mix(h: u64, v: u128) -> u64 {
    let (lo, hi) = (v as u64, (v >> 64) as u64);
    let m = u128::from(h ^ lo) * u128::from(hi ^ 0x9e37_79b9_7f4a_7c15);
    (m as u64) ^ ((m >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A filler writing each row's key as `key` gives it, a column at a
    /// time.
    fn fill(
        key: impl Fn(usize) -> Vec<u128>,
    ) -> impl FnMut(usize, std::ops::Range<usize>, &mut [u128]) -> bool {
        move |column, rows, out| {
            let keys: Vec<u128> = rows.map(|r| key(r)[column]).collect();
            out.copy_from_slice(&keys);
            true
        }
    }

    #[test]
    fn rows_alike_are_counted_with_their_extremes_in_first_row_order() {
        let keys = [
            [1u128, 2],
            [3, 4],
            [1, 2],
            [1, 2],
            [3, 4],
            [5, 6],
            [3, 4],
            [1, 2],
        ];
        // 5000 rows: more than one chunk.
        let times = [50i64, 10, 20, 70, 5, 1, 30, 60];
        let mut rows = (0..5000).map(|i| (keys[i % 8], times[i % 8] + i as i64));
        let all: Vec<_> = rows.by_ref().collect();
        let mut of_row = Vec::new();
        let likes = group(
            all.len(),
            2,
            fill(|r| all[r].0.to_vec()),
            |r| Some(all[r].1),
            &mut of_row,
            most(5000, true),
        )
        .unwrap();
        assert_eq!(of_row.len(), all.len());
        for (r, &g) in of_row.iter().enumerate() {
            assert_eq!(all[r].0, all[likes[g as usize].first].0);
        }
        assert_eq!(likes.len(), 3);
        assert_eq!(likes.iter().map(|l| l.n).sum::<u64>(), 5000);
        for l in &likes {
            let mine: Vec<usize> = (0..all.len())
                .filter(|&r| all[r].0 == all[l.first].0)
                .collect();
            assert_eq!(l.first, mine[0]);
            assert_eq!(l.last, *mine.last().unwrap());
            assert_eq!(l.n, mine.len() as u64);
            let ts: Vec<i64> = mine.iter().map(|&r| all[r].1).collect();
            assert_eq!(
                l.times,
                (*ts.iter().min().unwrap(), *ts.iter().max().unwrap())
            );
        }
        assert!(likes.windows(2).all(|w| w[0].first < w[1].first));
    }

    #[test]
    fn a_row_without_key_or_time_or_too_many_distinct_rows_give_up() {
        let no_key = |_, rows: std::ops::Range<usize>, k: &mut [u128]| {
            k.fill(1);
            !rows.contains(&7)
        };
        let o = &mut Vec::new();
        assert_eq!(group(10, 1, no_key, |_| Some(0), o, 256), None);
        let no_time = group(10, 1, fill(|_| vec![1]), |r| (r != 3).then_some(0), o, 256);
        assert_eq!(no_time, None);
        let distinct = group(
            1000,
            1,
            fill(|r| vec![r as u128]),
            |_| Some(0),
            o,
            most(1000, true),
        );
        assert_eq!(distinct, None);
        // Up to three rows in four distinct are grouped (766 of 1000).
        assert_eq!(most(1000, true), 766);
        for (distinct, grouped) in [(766, true), (767, false)] {
            let g = group(
                1000,
                1,
                fill(move |r| vec![(r % distinct) as u128]),
                |_| Some(0),
                o,
                most(1000, false),
            );
            assert_eq!(g.map(|l| l.len()), grouped.then_some(distinct));
        }
        assert_eq!(most(1 << 20, true), 1 << 16);
        assert_eq!(most(1 << 20, false), 1 << 18);
        // Keyless rows are one group; chunks cut nowhere in particular.
        let one = group(5000, 0, fill(|_| vec![]), |r| Some(r as i64), o, 16).unwrap();
        assert!(o.len() == 5000 && o.iter().all(|&g| g == 0));
        assert_eq!(
            one,
            vec![Like {
                first: 0,
                last: 4999,
                n: 5000,
                times: (0, 4999)
            }]
        );
    }
}
