//! Three-way merges of dotenv text at the level of keys.
//!
//! Two writers changed the same file since a common version (`base`): one
//! wrote `ours`, the other `theirs`. Keys that only one side changed take
//! that side's entry; keys both changed the same way are kept; keys both
//! changed differently are conflicts, written with git-style markers so
//! that a person resolves them. `edit` uses this when the file changed
//! while the editor was open.
//!
//! ```
//! use envcloak::merge::merge;
//! let base = "A=1\nB=1\n";
//! let ours = "A=2\nB=1\n";      // we changed A
//! let theirs = "A=1\nB=3\nC=4\n"; // they changed B and added C
//! let m = merge(base, ours, theirs)?;
//! assert_eq!(m.text.as_str(), "A=2\nB=3\nC=4\n");
//! assert!(m.conflicts.is_empty());
//! # Ok::<(), envcloak::dotenv::ParseError>(())
//! ```

use std::collections::HashMap;

use zeroize::Zeroizing;

use crate::dotenv::{self, ParseError};

/// The first line of a conflict block; then our entry, [`MIDDLE`], their
/// entry, [`END`].
pub const START: &str = "<<<<<<< yours";
/// Separates the two sides of a conflict block.
pub const MIDDLE: &str = "=======";
/// The last line of a conflict block.
pub const END: &str = ">>>>>>> theirs";

/// The result of [`merge`].
pub struct Merged {
    /// The merged text: `ours`, with the other side's changes applied and
    /// conflict blocks where both sides changed a key differently.
    pub text: Zeroizing<String>,
    /// Keys in conflict, in the order they appear.
    pub conflicts: Vec<String>,
}

impl std::fmt::Debug for Merged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merged")
            .field("text", &"<redacted>")
            .field("conflicts", &self.conflicts)
            .finish()
    }
}

/// One side's entries: key -> the entry's source text (its last
/// definition), and keys in order of first appearance.
struct Side<'a> {
    entries: HashMap<&'a str, &'a str>,
    order: Vec<&'a str>,
}

fn side(text: &str) -> Result<Side<'_>, ParseError> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries = HashMap::new();
    let mut order = Vec::new();
    for e in dotenv::parse(text)? {
        let source = body.get(e.span.clone()).unwrap_or_default();
        if entries.insert(e.key, source).is_none() {
            order.push(e.key);
        }
    }
    Ok(Side { entries, order })
}

/// Merges `ours` and `theirs`, two versions of `base`, key by key. Entries
/// are compared as written (so `B=${A}` stays a reference), and an entry
/// taken from `theirs` is copied as they wrote it. Conflict blocks are
/// labelled `yours` and `theirs` (see [`merge_labelled`]). Errors only
/// when one of the texts does not parse.
pub fn merge(base: &str, ours: &str, theirs: &str) -> Result<Merged, ParseError> {
    merge_labelled(base, ours, theirs, "yours")
}

/// [`merge`], with `ours_label` after the `<<<<<<<` of each conflict block
/// (git's merge driver writes `<<<<<<< ours`; `edit` writes `<<<<<<< yours`).
///
/// The result keeps `ours` as it is written (comments, blank lines, order)
/// and changes only the entries `theirs` changed. An entry only `theirs`
/// has goes right after its predecessor in `theirs` (the nearest key before
/// it there that the result holds), with the comment lines directly above
/// it in `theirs` unless `ours` already has them; an entry with no such
/// predecessor goes before the first entry of `ours`.
///
/// ```
/// use envcloak::merge::merge_labelled;
/// let m = merge_labelled("A=1\nB=1\n", "A=1\nB=1\nZ=9\n", "A=1\n# new\nN=2\nB=1\n", "ours")?;
/// assert_eq!(m.text.as_str(), "A=1\n# new\nN=2\nB=1\nZ=9\n");
/// # Ok::<(), envcloak::dotenv::ParseError>(())
/// ```
pub fn merge_labelled(
    base: &str,
    ours: &str,
    theirs: &str,
    ours_label: &str,
) -> Result<Merged, ParseError> {
    let b = side(base)?;
    let o = side(ours)?;
    let t = side(theirs)?;
    let body = ours.strip_prefix('\u{feff}').unwrap_or(ours);
    let bom = ours.get(..ours.len() - body.len()).unwrap_or_default();
    let theirs_body = theirs.strip_prefix('\u{feff}').unwrap_or(theirs);
    let entries = dotenv::parse(ours)?;
    let theirs_entries = dotenv::parse(theirs)?;
    let start = format!("<<<<<<< {ours_label}");
    // Byte ranges of `body` to replace (an empty range inserts).
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    // Entries only `theirs` has, each after its anchor: a key of `ours`
    // (None: before the first entry of `ours`), in `theirs`' order.
    let mut inserted: Vec<(Option<&str>, String)> = Vec::new();
    // Keys of `theirs` the result holds that `ours` does not, with their anchor.
    let mut anchors: HashMap<&str, Option<&str>> = HashMap::new();
    let mut conflicts = Vec::new();

    let mut keys: Vec<&str> = o.order.clone();
    keys.extend(t.order.iter().filter(|k| !o.entries.contains_key(*k)));
    for key in keys {
        let (bv, ov, tv) = (b.entries.get(key), o.entries.get(key), t.entries.get(key));
        if ov == tv || tv == bv {
            continue; // the same on both sides, or only we changed it
        }
        let replacement = if ov == bv {
            // Only they changed it: take theirs (or drop it, as they did).
            tv.map(|e| e.to_string())
        } else {
            conflicts.push(key.to_owned());
            Some(format!(
                "{start}\n{}{MIDDLE}\n{}{END}",
                ov.map(|e| format!("{e}\n")).unwrap_or_default(),
                tv.map(|e| format!("{e}\n")).unwrap_or_default(),
            ))
        };
        let ours_entries: Vec<&dotenv::Entry<'_>> =
            entries.iter().filter(|e| e.key == key).collect();
        let Some((last, earlier)) = ours_entries.split_last() else {
            // Only theirs has it (added, or changed where we removed it).
            let Some(mut text) = replacement else {
                continue;
            };
            let anchor = anchor(&t.order, key, &o, &anchors);
            anchors.insert(key, anchor);
            if let Some(e) = theirs_entries.iter().rev().find(|e| e.key == key)
                && ov == bv
            {
                let comments = leading_comments(theirs_body, e);
                if !comments.is_empty() && !body.contains(comments) {
                    text.insert_str(0, comments);
                }
            }
            inserted.push((anchor, text));
            continue;
        };
        // Earlier duplicates go (the last one is what counted); the last
        // one's lines become the replacement, or go too.
        for e in earlier {
            edits.push((whole_lines(body, e), String::new()));
        }
        match replacement {
            Some(text) => {
                // From the start of the entry's line, so an `export ` prefix
                // does not stay in front of a conflict block.
                let range = whole_lines(body, last);
                let end = range.start + text_end(body, &range);
                edits.push((range.start..end, text));
            }
            None => edits.push((whole_lines(body, last), String::new())),
        }
    }
    // Where each inserted entry goes: after its anchor's last definition,
    // or before the first entry of ours (and the comments right above it).
    for (anchor, text) in inserted {
        let at = match anchor.and_then(|k| entries.iter().rev().find(|e| e.key == k)) {
            Some(e) => whole_lines(body, e).end,
            None => entries.first().map_or(body.len(), |e| {
                comments_start(body, whole_lines(body, e).start)
            }),
        };
        let mut block = String::with_capacity(text.len() + 2);
        if at > 0 && body.get(..at).is_some_and(|b| !b.ends_with('\n')) {
            block.push('\n');
        }
        block.push_str(&text);
        block.push('\n');
        edits.push((at..at, block));
    }
    // Insertions before replacements that start at the same place, and
    // insertions at one place in the order they were made.
    edits.sort_by_key(|(r, _)| (r.start, r.end > r.start));
    let mut text = Zeroizing::new(String::with_capacity(ours.len() + 64));
    text.push_str(bom);
    let mut from = 0;
    for (range, replacement) in &edits {
        text.push_str(body.get(from..range.start).unwrap_or_default());
        text.push_str(replacement);
        from = from.max(range.end);
    }
    text.push_str(body.get(from..).unwrap_or_default());
    Ok(Merged { text, conflicts })
}

/// The key of `ours` that an entry only `theirs` has goes after: the
/// nearest key before `key` in `theirs`' order that `ours` has, or that is
/// itself inserted (then it shares that one's anchor, after it).
fn anchor<'a>(
    order: &[&'a str],
    key: &str,
    o: &Side<'a>,
    anchors: &HashMap<&'a str, Option<&'a str>>,
) -> Option<&'a str> {
    let at = order.iter().position(|k| *k == key)?;
    for prev in order.get(..at).unwrap_or_default().iter().rev() {
        if o.entries.contains_key(prev) {
            return Some(prev);
        }
        if let Some(a) = anchors.get(prev) {
            return *a;
        }
    }
    None
}

/// The comment lines directly above the entry `e` of `body` (no blank line
/// between), newlines included; empty when there are none.
fn leading_comments<'b>(body: &'b str, e: &dotenv::Entry<'_>) -> &'b str {
    let line_start = whole_lines(body, e).start;
    let from = comments_start(body, line_start);
    body.get(from..line_start).unwrap_or_default()
}

/// Where the run of comment lines that ends at `line_start` (the start of
/// a line of `body`) begins; `line_start` when the line above is not a
/// comment.
fn comments_start(body: &str, line_start: usize) -> usize {
    let mut at = line_start;
    while at > 0 {
        let above = body.get(..at - 1).unwrap_or_default();
        let prev_start = above.rfind('\n').map_or(0, |i| i + 1);
        let line = body.get(prev_start..at).unwrap_or_default();
        if !line.trim_start().starts_with('#') {
            break;
        }
        at = prev_start;
    }
    at
}

/// The entry's whole lines in `body`, newline included.
fn whole_lines(body: &str, e: &dotenv::Entry<'_>) -> std::ops::Range<usize> {
    let start = body
        .get(..e.span.start)
        .and_then(|s| s.rfind('\n'))
        .map_or(0, |i| i + 1);
    let end = body
        .get(e.span.end..)
        .and_then(|s| s.find('\n'))
        .map_or(body.len(), |i| e.span.end + i + 1);
    start..end
}

/// The length of `range` without its final newline (so a replacement keeps
/// the line break that followed the entry).
fn text_end(body: &str, range: &std::ops::Range<usize>) -> usize {
    let lines = body.get(range.clone()).unwrap_or_default();
    lines
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(lines)
        .len()
}

/// Which keys differ between two versions of a dotenv text: names only,
/// never values. What `encrypt` prints before it replaces a file, and what
/// `envcloak diff` prints between revisions.
///
/// ```
/// use envcloak::merge::summary;
/// let s = summary("A=1\nB=1\nC=1\n", "A=1\nB=2\nD=4\n")?;
/// assert_eq!((s.added, s.changed, s.removed), (vec!["D".to_owned()], vec!["B".to_owned()], vec!["C".to_owned()]));
/// # Ok::<(), envcloak::dotenv::ParseError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Keys only `new` defines, in `new`'s order.
    pub added: Vec<String>,
    /// Keys whose entry (as written, so `B=${A}` stays a reference) differs,
    /// in `new`'s order.
    pub changed: Vec<String>,
    /// Keys only `old` defines, in `old`'s order.
    pub removed: Vec<String>,
}

impl Summary {
    /// Whether the two versions define the same keys with the same entries.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// The key-level difference from `old` to `new` (see [`Summary`]). Entries
/// are compared as written: `A="1"` and `A=1` count as a change.
pub fn summary(old: &str, new: &str) -> Result<Summary, ParseError> {
    let o = side(old)?;
    let n = side(new)?;
    let mut s = Summary::default();
    for key in &n.order {
        match o.entries.get(key) {
            None => s.added.push((*key).to_owned()),
            Some(before) if n.entries.get(key) != Some(before) => s.changed.push((*key).to_owned()),
            Some(_) => {}
        }
    }
    s.removed = o
        .order
        .iter()
        .filter(|k| !n.entries.contains_key(*k))
        .map(|k| (*k).to_owned())
        .collect();
    Ok(s)
}

/// The 1-based line of the first conflict marker in `text`, if any: a
/// line that starts with `<<<<<<<` or `>>>>>>>`, whatever its label
/// (`yours`, `ours`, `theirs`).
pub fn first_marker(text: &str) -> Option<u32> {
    text.lines()
        .position(|l| l.starts_with("<<<<<<<") || l.starts_with(">>>>>>>"))
        .map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(base: &str, ours: &str, theirs: &str) -> (String, Vec<String>) {
        let r = merge(base, ours, theirs).unwrap();
        (r.text.to_string(), r.conflicts)
    }

    #[test]
    fn each_side_keeps_its_own_changes() {
        let base = "# top\nA=1\nB=1\nC=1\n";
        let ours = "# top\nA=2\nB=1\nC=1\nD=ours\n";
        let theirs = "# top\nA=1\nC=3\nE=theirs\n";
        let (text, conflicts) = m(base, ours, theirs);
        // E follows C, its predecessor in theirs.
        assert_eq!(text, "# top\nA=2\nC=3\nE=theirs\nD=ours\n");
        assert!(conflicts.is_empty());
    }

    #[test]
    fn an_added_key_follows_its_predecessor_in_theirs() {
        let base = "A=1\nB=1\nC=1\n";
        let ours = "A=1\nB=1\nC=1\nO=1\n";
        let theirs = "A=1\nT1=1\nT2=2\nB=1\nC=1\nT3=3\n";
        let (text, conflicts) = m(base, ours, theirs);
        assert_eq!(text, "A=1\nT1=1\nT2=2\nB=1\nC=1\nT3=3\nO=1\n");
        assert!(conflicts.is_empty());
    }

    #[test]
    fn a_removed_predecessor_is_skipped() {
        // We removed B; their N came after B: it goes after A.
        let (text, _) = m("A=1\nB=1\nC=1\n", "A=1\nC=1\n", "A=1\nB=1\nN=1\nC=1\n");
        assert_eq!(text, "A=1\nN=1\nC=1\n");
        // They removed the key before theirs: the one before that counts.
        let (text, _) = m("A=1\nB=1\nC=1\n", "A=1\nB=1\nC=1\n", "A=1\nN=1\nC=1\n");
        assert_eq!(text, "A=1\nN=1\nC=1\n");
    }

    #[test]
    fn a_key_added_first_goes_before_our_first_entry() {
        let (text, _) = m("A=1\n", "# about A\nA=1\n", "N=1\nA=1\n");
        assert_eq!(text, "N=1\n# about A\nA=1\n");
        let (text, _) = m("", "", "N=1\n");
        assert_eq!(text, "N=1\n");
    }

    #[test]
    fn comments_above_an_added_key_come_along_once() {
        let base = "A=1\n";
        let ours = "A=1\n# shared\nB=1\n";
        let theirs = "A=1\n# Stripe, test mode\nS=1\n# shared\nB2=1\n";
        let (text, _) = m(base, ours, theirs);
        assert_eq!(text, "A=1\n# Stripe, test mode\nS=1\nB2=1\n# shared\nB=1\n");
    }

    #[test]
    fn our_order_comments_and_blank_lines_stay() {
        let base = "# db\nDB=1\n\n# web\nPORT=1\nHOST=1\n";
        let ours = "# web\nPORT=1\nHOST=2\n\n# db\nDB=1\n";
        let theirs = "# db\nDB=3\n\n# web\nPORT=1\nHOST=1\nTLS=1\n";
        let (text, conflicts) = m(base, ours, theirs);
        assert_eq!(text, "# web\nPORT=1\nHOST=2\nTLS=1\n\n# db\nDB=3\n");
        assert!(conflicts.is_empty());
    }

    #[test]
    fn no_final_newline_in_ours() {
        let (text, _) = m("A=1", "A=1", "A=1\nB=2\n");
        assert_eq!(text, "A=1\nB=2\n");
    }

    #[test]
    fn a_conflict_on_a_key_we_removed_sits_where_they_have_it() {
        let (text, conflicts) = m("A=1\nB=1\nC=1\n", "A=1\nC=1\n", "A=1\nB=2\nC=1\n");
        assert_eq!(conflicts, ["B"]);
        assert_eq!(
            text,
            "A=1\n<<<<<<< yours\n=======\nB=2\n>>>>>>> theirs\nC=1\n"
        );
    }

    #[test]
    fn labels_and_markers() {
        let r = merge_labelled("A=1\n", "A=2\n", "A=3\n", "ours").unwrap();
        assert_eq!(
            r.text.as_str(),
            "<<<<<<< ours\nA=2\n=======\nA=3\n>>>>>>> theirs\n"
        );
        assert_eq!(first_marker(&r.text), Some(1));
        let err = dotenv::parse(&r.text).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(
            matches!(err.kind, dotenv::ParseErrorKind::ConflictMarker { key: Some(k) } if k.as_str() == "A")
        );
    }

    #[test]
    fn the_same_change_on_both_sides_is_no_conflict() {
        let (text, conflicts) = m("A=1\n", "A=2\n", "A=2\n");
        assert_eq!((text.as_str(), conflicts.len()), ("A=2\n", 0));
        let (text, conflicts) = m("A=1\nB=2\n", "B=2\n", "B=2\n");
        assert_eq!((text.as_str(), conflicts.len()), ("B=2\n", 0));
    }

    #[test]
    fn different_changes_to_one_key_are_marked() {
        let (text, conflicts) = m("A=1\nB=1\n", "A=2\nB=1\n", "A=3\nB=1\n");
        assert_eq!(conflicts, ["A"]);
        assert_eq!(
            text,
            "<<<<<<< yours\nA=2\n=======\nA=3\n>>>>>>> theirs\nB=1\n"
        );
        assert_eq!(first_marker(&text), Some(1));
        assert!(dotenv::parse(&text).is_err());
    }

    #[test]
    fn removed_on_one_side_and_changed_on_the_other_is_a_conflict() {
        let (text, conflicts) = m("A=1\nB=1\n", "B=1\n", "A=9\nB=1\n");
        assert_eq!(conflicts, ["A"]);
        assert!(text.starts_with("<<<<<<< yours\n=======\nA=9\n>>>>>>> theirs\n"));
        let (text, conflicts) = m("A=1\nB=1\n", "A=5\nB=1\n", "B=1\n");
        assert_eq!(conflicts, ["A"]);
        assert!(text.starts_with("<<<<<<< yours\nA=5\n=======\n>>>>>>> theirs\n"));
    }

    #[test]
    fn several_conflicts_and_changes_in_one_merge() {
        let base = "A=1\nB=1\nC=1\nD=1\n";
        let ours = "A=2\nB=2\nC=1\nD=1\n";
        let theirs = "A=3\nB=3\nC=3\n";
        let (text, conflicts) = m(base, ours, theirs);
        assert_eq!(conflicts, ["A", "B"]);
        assert_eq!(
            text,
            "<<<<<<< yours\nA=2\n=======\nA=3\n>>>>>>> theirs\n\
             <<<<<<< yours\nB=2\n=======\nB=3\n>>>>>>> theirs\nC=3\n"
        );
    }

    #[test]
    fn entries_are_copied_as_written() {
        let (text, _) = m("A=1\n", "A=1\nX=mine\n", "A=1\nB=\"multi\nline\"\nC=${A}\n");
        assert_eq!(text, "A=1\nB=\"multi\nline\"\nC=${A}\nX=mine\n");
    }
}
