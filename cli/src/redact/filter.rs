//! The streaming filter behind `envcloak redact` and `run --redact`: bytes
//! in, the same bytes out with every loaded value replaced by
//! `[REDACTED:KEY]`.
//!
//! Self-contained (std, `aho-corasick` and `zeroize` only), so that the
//! benchmark in `cli/benches/redact.rs` compiles this very file.
//!
//! How it streams: input is read in large chunks (256 KiB; a pipe gives up
//! to its own capacity per read) into one buffer. Everything up to the
//! first byte that could begin a value continuing past the end of the chunk
//! is written out at once (unchanged spans straight from the buffer, with
//! the labels between them, in one vectored write), and the output is
//! flushed: a prompt or a partial line reaches the reader without waiting
//! for a newline. Only that tail, at most (longest value − 1) bytes long,
//! waits for the next read, so a value split across two reads (or two
//! writes of the producer) is still found. The filter works on bytes:
//! binary input, invalid UTF-8 and multi-line values pass through it
//! unchanged except for the values.
//!
//! How it finds the values: one Aho-Corasick automaton over all of them,
//! leftmost-longest (of two values where one contains the other, the longer
//! is replaced; of two that overlap, the one that starts first), run
//! anchored at each position where a value may start. Those positions come
//! from a Wu-Manber shift table ([`Skip`]), which steps over log text
//! three or four bytes at a time instead of feeding the automaton every
//! byte: with 1,000 values that is the difference between ~150 MB/s and
//! well over 500 MB/s (`benches/redact_vs_cat.sh`).

use std::fmt;
use std::io::{self, IoSlice, Read, Write};

use aho_corasick::automaton::Automaton;
use aho_corasick::nfa::contiguous;
use aho_corasick::{AhoCorasick, Anchored, Input, MatchKind, StartKind};
use zeroize::Zeroizing;

/// The size of one read.
pub const CHUNK: usize = 256 * 1024;

/// Values shorter than this many characters are left alone: they are too
/// likely to occur by chance (`true`, `8000`, `admin`).
pub const MIN_CHARS: usize = 6;

/// Wu-Manber's shift table: where in the text a value can start.
///
/// Every value is at least `m` bytes long (6 characters are at least 6
/// bytes). Look at the last four bytes of the `m`-byte window starting at
/// `p`: if no value has those four bytes at offset `m - 4 - s` for any `s`
/// below the table's entry, no value starts in `p..p + s` and the window
/// moves on by `s` (up to `m - 3` bytes at a time). A window whose entry is
/// 0 is checked against the values' first bytes (a bitset of their hashes),
/// and only then confirmed or not by the anchored automaton. Hash
/// collisions only cost time: shorter shifts, more candidates.
struct Skip {
    /// Shifts by hashed four-byte block.
    table: Vec<u8>,
    /// Hashes of the values' first `min(m, 8)` bytes.
    heads: Vec<u64>,
    /// The length of the window: the shortest value's length in bytes (at
    /// most [`Skip::MAX_WINDOW`]); 0 when there is no value.
    m: usize,
}

impl Skip {
    /// Bits of the block hash (a 64 KiB table).
    const BITS: u32 = 16;
    /// Bits of the head hash (a 32 KiB bitset).
    const HEAD_BITS: u32 = 18;
    /// Longer windows allow longer shifts but fill the table.
    const MAX_WINDOW: usize = 16;

    fn new<'a>(values: impl Iterator<Item = &'a [u8]> + Clone) -> Skip {
        let m = values
            .clone()
            .map(<[u8]>::len)
            .min()
            .unwrap_or(0)
            .min(Self::MAX_WINDOW);
        if m < 4 {
            return Skip {
                table: Vec::new(),
                heads: Vec::new(),
                m: 0,
            };
        }
        let mut table = vec![(m - 3) as u8; 1 << Self::BITS];
        let mut heads = vec![0u64; (1 << Self::HEAD_BITS) / 64];
        for v in values {
            for j in 3..m {
                let h = Self::hash_block(u32::from_le_bytes([v[j - 3], v[j - 2], v[j - 1], v[j]]));
                let shift = (m - 1 - j) as u8;
                if table[h] > shift {
                    table[h] = shift;
                }
            }
            let h = Self::head_hash(v, m);
            heads[h / 64] |= 1 << (h % 64);
        }
        Skip { table, heads, m }
    }

    #[inline(always)]
    fn hash_block(x: u32) -> usize {
        (x.wrapping_mul(0x9E37_79B1) >> (32 - Self::BITS)) as usize
    }

    #[inline(always)]
    fn head_hash(at: &[u8], m: usize) -> usize {
        let mut x = [0u8; 8];
        let n = m.min(8);
        x[..n].copy_from_slice(&at[..n]);
        let x = u64::from_le_bytes(x);
        (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - Self::HEAD_BITS)) as usize
    }

    /// One window at `p`: the next window to look at.
    #[inline(always)]
    fn step(
        &self,
        table: &[u8; 1 << Self::BITS],
        data: &[u8],
        p: usize,
        found: &mut Vec<usize>,
    ) -> usize {
        // The caller keeps `p + m <= data.len()`.
        let Some(&block) = data.get(p + self.m - 4..).and_then(<[u8]>::first_chunk) else {
            return usize::MAX;
        };
        let shift = table[Self::hash_block(u32::from_le_bytes(block))];
        if shift != 0 {
            return p + usize::from(shift);
        }
        let h = Self::head_hash(&data[p..], self.m);
        if self.heads[h / 64] & (1 << (h % 64)) != 0 {
            found.push(p);
        }
        p + 1
    }

    /// Appends to `out`, in increasing order, every position in
    /// `from..limit` where a value may start and fit in `data` (a superset
    /// of where one does).
    ///
    /// Each window's shift depends on the previous one, a chain of loads
    /// the processor cannot overlap; so the range is cut into four lanes
    /// scanned in step, four independent chains at once.
    fn candidates(&self, data: &[u8], from: usize, limit: usize, out: &mut Vec<usize>) {
        let m = self.m;
        let Ok(table) = <&[u8; 1 << Self::BITS]>::try_from(&self.table[..]) else {
            return;
        };
        let end = limit.min((data.len() + 1).saturating_sub(m));
        if from >= end {
            return;
        }
        const LANES: usize = 4;
        let lane = (end - from) / LANES;
        let mut p: [usize; LANES] = std::array::from_fn(|k| from + k * lane);
        let stop: [usize; LANES] = std::array::from_fn(|k| {
            if k + 1 == LANES {
                end
            } else {
                from + (k + 1) * lane
            }
        });
        let mut found: [Vec<usize>; LANES] = Default::default();
        while p[0] < stop[0] && p[1] < stop[1] && p[2] < stop[2] && p[3] < stop[3] {
            p[0] = self.step(table, data, p[0], &mut found[0]);
            p[1] = self.step(table, data, p[1], &mut found[1]);
            p[2] = self.step(table, data, p[2], &mut found[2]);
            p[3] = self.step(table, data, p[3], &mut found[3]);
        }
        for k in 0..LANES {
            while p[k] < stop[k] {
                p[k] = self.step(table, data, p[k], &mut found[k]);
            }
        }
        for f in &found {
            out.extend_from_slice(f);
        }
    }
}

/// The values to hide and the automaton that finds them.
///
/// Its `Debug` shows how many values it holds, never one of them.
pub struct Redactor {
    /// Skips the text where no value can start.
    skip: Skip,
    /// The longest value that starts at a given position (anchored,
    /// leftmost-longest).
    search: AhoCorasick,
    /// The same values as a trie walked anchored: "could the bytes from
    /// here on be the start of a value?"
    prefixes: contiguous::NFA,
    /// `[REDACTED:KEY]` for each pattern, by pattern index.
    labels: Vec<Box<[u8]>>,
    /// The length in bytes of the longest value (0 when there is none).
    longest: usize,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("values", &self.labels.len())
            .finish_non_exhaustive()
    }
}

/// Why a stream stopped: reading its input or writing its output failed.
#[derive(Debug)]
pub enum StreamError {
    /// Reading the input failed.
    Read(io::Error),
    /// Writing the output failed (`BrokenPipe` when the reader went away).
    Write(io::Error),
}

impl Redactor {
    /// A redactor for `(key, value)` pairs, in order of preference: where
    /// two keys hold the same value, the first one names it. Values shorter
    /// than [`MIN_CHARS`] characters are skipped.
    ///
    /// The error (from the automaton's builder, for a set of values too
    /// large to index) names no value.
    pub fn new<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Redactor, String>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let mut values: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        let mut labels: Vec<Box<[u8]>> = Vec::new();
        for (key, value) in pairs {
            let value = value.as_ref();
            if String::from_utf8_lossy(value).chars().count() < MIN_CHARS
                || values.iter().any(|v| v.as_slice() == value)
            {
                continue;
            }
            values.push(Zeroizing::new(value.to_vec()));
            labels.push(format!("[REDACTED:{}]", key.as_ref()).into_bytes().into());
        }
        let longest = values.iter().map(|v| v.len()).max().unwrap_or(0);
        let skip = Skip::new(values.iter().map(|v| v.as_slice()));
        let search = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .start_kind(StartKind::Anchored)
            .build(values.iter().map(|v| v.as_slice()))
            .map_err(|e| format!("cannot index the values to redact: {e}"))?;
        let prefixes = contiguous::NFA::builder()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(values.iter().map(|v| v.as_slice()))
            .map_err(|e| format!("cannot index the values to redact: {e}"))?;
        Ok(Redactor {
            skip,
            search,
            prefixes,
            labels,
            longest,
        })
    }

    /// Copies `input` to `output` with every value replaced, until the end
    /// of `input`. `output` is flushed after each read.
    pub fn stream(&self, mut input: impl Read, mut output: impl Write) -> Result<(), StreamError> {
        // The tail kept from one read to the next is at most longest - 1
        // bytes, so a read always has at least CHUNK bytes of room.
        // Input (values included) is wiped when the stream ends.
        let mut buf = Zeroizing::new(vec![0u8; CHUNK + self.longest]);
        let mut candidates = Vec::new();
        let mut held = 0;
        loop {
            let n = loop {
                match input.read(&mut buf[held..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(StreamError::Read(e)),
                }
            };
            let len = held + n;
            let eof = n == 0;
            let done = self
                .emit(&buf[..len], eof, &mut candidates, &mut output)
                .and_then(|done| output.flush().map(|()| done));
            let done = done.map_err(StreamError::Write)?;
            if eof {
                break;
            }
            buf.copy_within(done..len, 0);
            held = len - done;
        }
        Ok(())
    }

    /// Writes the redacted form of `data` up to the point where what
    /// follows could still be part of a value continuing in the next read
    /// (all of it at the end of the input), and returns that point.
    ///
    /// Unchanged spans are written straight from `data` (one vectored write
    /// with the labels between them), never copied.
    fn emit(
        &self,
        data: &[u8],
        eof: bool,
        candidates: &mut Vec<usize>,
        output: &mut impl Write,
    ) -> io::Result<usize> {
        let len = data.len();
        let mut pos = 0;
        let mut parts: Vec<IoSlice<'_>> = Vec::new();
        let end = loop {
            let hold = if eof { len } else { self.hold_from(data, pos) };
            // Every position before `hold` where a value may start, in
            // order; the first confirmed one is the leftmost match, and it
            // is final: every value that could start there, or earlier,
            // lies wholly in `data`.
            candidates.clear();
            self.skip.candidates(data, pos, hold, candidates);
            for &start in candidates.iter() {
                if start < pos {
                    continue;
                }
                let input = Input::new(data).span(start..len).anchored(Anchored::Yes);
                if let Some(m) = self.search.find(input) {
                    parts.push(IoSlice::new(&data[pos..start]));
                    parts.push(IoSlice::new(&self.labels[m.pattern().as_usize()]));
                    pos = m.end();
                }
            }
            if pos <= hold {
                break hold;
            }
            // A value ran past `hold`: look again from its end.
        };
        parts.push(IoSlice::new(&data[pos..end]));
        write_all_vectored(output, &mut parts)?;
        Ok(end)
    }

    /// The first position at or after `from` whose bytes up to the end of
    /// `data` are the beginning of a longer value (so the next read may
    /// complete it), or `data.len()`.
    ///
    /// Only the last `longest - 1` bytes can be such a beginning. Each
    /// candidate is walked through the trie until it leaves it; the work
    /// is bounded, and when the bound is hit the rest is simply held
    /// (correct, a little less prompt).
    fn hold_from(&self, data: &[u8], from: usize) -> usize {
        let len = data.len();
        let first = from.max(len.saturating_sub(self.longest.saturating_sub(1)));
        let mut budget = 4 * self.longest + 4096;
        let nfa = &self.prefixes;
        let Ok(start) = nfa.start_state(Anchored::Yes) else {
            return first;
        };
        for p in first..len {
            let mut sid = start;
            let mut alive = true;
            for &b in &data[p..] {
                if budget == 0 {
                    return p;
                }
                budget -= 1;
                sid = nfa.next_state(Anchored::Yes, sid, b);
                if nfa.is_dead(sid) {
                    alive = false;
                    break;
                }
            }
            if alive && (!nfa.is_match(sid) || self.continues(sid)) {
                return p;
            }
        }
        len
    }

    /// Whether some value continues past trie state `sid` (a whole value
    /// that is also the beginning of a longer one).
    fn continues(&self, sid: aho_corasick::automaton::StateID) -> bool {
        let nfa = &self.prefixes;
        (0..=255u8).any(|b| !nfa.is_dead(nfa.next_state(Anchored::Yes, sid, b)))
    }
}

/// Writes all of `parts` (as `Write::write_all_vectored`, which is not
/// stable yet).
fn write_all_vectored(output: &mut impl Write, mut parts: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut parts, 0);
    while !parts.is_empty() {
        match output.write_vectored(parts) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut parts, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redacts `input` fed in pieces of `step` bytes.
    fn redact_in_steps(r: &Redactor, input: &[u8], step: usize) -> Vec<u8> {
        struct Steps<'a>(&'a [u8], usize);
        impl Read for Steps<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.1.min(self.0.len()).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        r.stream(Steps(input, step), &mut out).unwrap();
        out
    }

    /// The same replacement done naively on the whole input.
    fn reference(pairs: &[(&str, &str)], input: &str) -> String {
        let mut values: Vec<(&str, &str)> = pairs
            .iter()
            .copied()
            .filter(|(_, v)| v.chars().count() >= MIN_CHARS)
            .collect();
        values.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        let mut out = String::new();
        let mut rest = input;
        'outer: while !rest.is_empty() {
            for (k, v) in &values {
                if rest.starts_with(v) {
                    out.push_str(&format!("[REDACTED:{k}]"));
                    rest = &rest[v.len()..];
                    continue 'outer;
                }
            }
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }

    #[test]
    fn every_split_gives_the_same_output() {
        let pairs = [
            ("A", "secret1"),
            ("B", "secret123"),
            ("C", "cret12345"),
            ("D", "line one\nline two"),
            ("E", "pässwörd"),
            ("SHORT", "abc"),
        ];
        let input = "x secret1 secret123 secret12 ssecret1234 cret12345 \
                     line one\nline two line one\nline three pässwörd pässwör abc end secret1";
        let r = Redactor::new(pairs).unwrap();
        let expected = reference(&pairs, input);
        assert!(expected.contains("[REDACTED:B]4"), "{expected}");
        for step in 1..input.len() + 2 {
            let out = redact_in_steps(&r, input.as_bytes(), step);
            assert_eq!(String::from_utf8(out).unwrap(), expected, "step {step}");
        }
    }

    /// A small deterministic generator for the randomized tests.
    fn xorshift(mut seed: u64) -> impl FnMut(usize) -> usize {
        move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        }
    }

    /// Random inputs over a small alphabet, values cut from the input
    /// itself (so they occur, overlap and contain one another) or made up:
    /// the stream agrees with the whole-input reference whatever the read
    /// sizes, the value lengths (hence the scan window) and the input size
    /// (hence the lanes).
    fn agree_with_reference(seed: u64, rounds: usize, value_len: (usize, usize), input_len: usize) {
        let mut next = xorshift(seed);
        let alphabet = ['a', 'b', 'c', '\n', 'é'];
        let keys = ["K0", "K1", "K2", "K3", "K4", "K5", "K6", "K7"];
        for _ in 0..rounds {
            let input: String = (0..1 + next(input_len))
                .map(|_| alphabet[next(alphabet.len())])
                .collect();
            let chars: Vec<char> = input.chars().collect();
            let values: Vec<String> = keys
                .iter()
                .map(|_| {
                    let len = value_len.0 + next(value_len.1 - value_len.0 + 1);
                    if next(3) > 0 && chars.len() > len {
                        let at = next(chars.len() - len);
                        chars[at..at + len].iter().collect()
                    } else {
                        (0..len).map(|_| alphabet[next(alphabet.len())]).collect()
                    }
                })
                .collect();
            let pairs: Vec<(&str, &str)> = keys
                .iter()
                .copied()
                .zip(values.iter().map(String::as_str))
                .collect();
            // Duplicates: the first key names the value (as in `new`).
            let mut unique: Vec<(&str, &str)> = Vec::new();
            for &(k, v) in &pairs {
                if !unique.iter().any(|&(_, u)| u == v) {
                    unique.push((k, v));
                }
            }
            let r = Redactor::new(pairs.iter().copied()).unwrap();
            let expected = reference(&unique, &input);
            let step = 1 + next(2 * value_len.1 + 64);
            let out = redact_in_steps(&r, input.as_bytes(), step);
            assert_eq!(String::from_utf8(out).unwrap(), expected, "step {step}");
        }
    }

    #[test]
    fn random_short_values_agree_with_the_reference() {
        agree_with_reference(0x2545_f491_4f6c_dd1d, 400, (5, 10), 200);
    }

    #[test]
    fn random_long_values_agree_with_the_reference() {
        agree_with_reference(0x9e37_79b9_7f4a_7c15, 150, (9, 45), 3000);
    }

    #[test]
    fn random_values_in_large_reads_agree_with_the_reference() {
        // Reads of up to CHUNK bytes: the four lanes of the scan get long.
        let mut next = xorshift(7);
        let text: String = (0..200_000)
            .map(|_| ['x', 'y', 'z', ' '][next(4)])
            .collect();
        let pairs = [
            ("A", &text[1000..1006]),
            ("B", &text[5000..5040]),
            ("C", &text[99_990..100_020]),
        ];
        let r = Redactor::new(pairs).unwrap();
        let expected = reference(&pairs, &text);
        for step in [CHUNK, 65_536, 4_099] {
            let out = redact_in_steps(&r, text.as_bytes(), step);
            assert_eq!(String::from_utf8(out).unwrap(), expected, "step {step}");
        }
    }

    #[test]
    fn nothing_is_held_that_cannot_begin_a_value() {
        let r = Redactor::new([("K", "abcdefgh")]).unwrap();
        assert_eq!(r.hold_from(b"prompt> ", 0), 8);
        assert_eq!(r.hold_from(b"prompt> abc", 0), 8);
        assert_eq!(
            r.hold_from(b"prompt> abcdefgh", 0),
            16,
            "complete and final"
        );
        let r = Redactor::new([("K", "abcdefgh"), ("L", "abcdefghij")]).unwrap();
        assert_eq!(r.hold_from(b"> abcdefgh", 0), 2, "could still grow");
    }

    #[test]
    fn binary_input_passes_through() {
        let r = Redactor::new([("K", b"\xff\x00secret".as_slice())]).unwrap();
        let mut input: Vec<u8> = (0..=255u8).collect();
        input.extend_from_slice(b"\xff\x00secret\xfe");
        let out = redact_in_steps(&r, &input, 7);
        let mut expected: Vec<u8> = (0..=255u8).collect();
        expected.extend_from_slice(b"[REDACTED:K]\xfe");
        assert_eq!(out, expected);
    }

    #[test]
    fn debug_names_no_value() {
        let r = Redactor::new([("K", "hunter2hunter2")]).unwrap();
        let shown = format!("{r:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("values: 1"), "{shown}");
    }

    #[test]
    fn no_values_copies_everything() {
        let r = Redactor::new(Vec::<(String, String)>::new()).unwrap();
        assert_eq!(redact_in_steps(&r, b"all of it", 3), b"all of it");
    }
}
